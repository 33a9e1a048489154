//! Prometheus metrics, rendered in the text format at `/metrics`.
//!
//! One registry per running gateway (not a process global), so tests and
//! benchmarks can run several in one process.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    /// Sign-in attempts by integration kind and outcome (`success` or the refusal reason).
    pub sign_ins: IntCounterVec,
    /// SCIM operations by resource, operation and outcome.
    pub scim_operations: IntCounterVec,
    /// Lifecycle events this instance committed.
    pub events_recorded: IntCounter,
    /// Webhook delivery attempts this instance made, by outcome.
    pub webhook_deliveries: IntCounterVec,
    /// Per endpoint this instance works: seconds since the oldest event it
    /// has not yet delivered occurred (0 when caught up).
    pub webhook_oldest_undelivered: IntGaugeVec,
    /// Seconds until each SAML integration's last valid signing
    /// certificate expires (negative once it has).
    pub idp_certificate_expiry: GaugeVec,
}

impl Metrics {
    /// Fails only on a malformed metric definition below: a programming
    /// error that start-up reports instead of serving without metrics.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("sso_gateway".into()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route pattern and status",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method and route pattern",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["method", "route"],
        )?;
        let sign_ins = IntCounterVec::new(
            Opts::new(
                "sign_ins_total",
                "Sign-in attempts by integration kind and outcome",
            ),
            &["kind", "outcome"],
        )?;
        let scim_operations = IntCounterVec::new(
            Opts::new(
                "scim_operations_total",
                "SCIM operations by resource, operation and outcome",
            ),
            &["resource", "operation", "outcome"],
        )?;
        let events_recorded = IntCounter::new(
            "events_recorded_total",
            "Lifecycle events committed by this instance",
        )?;
        let webhook_deliveries = IntCounterVec::new(
            Opts::new(
                "webhook_deliveries_total",
                "Webhook delivery attempts by outcome (delivered, retrying, failed, disabled)",
            ),
            &["outcome"],
        )?;
        let webhook_oldest_undelivered = IntGaugeVec::new(
            Opts::new(
                "webhook_oldest_undelivered_event_age_seconds",
                "Age of the oldest event not yet delivered to the endpoint, as of this \
                 instance's last batch for it",
            ),
            &["endpoint"],
        )?;
        let idp_certificate_expiry = GaugeVec::new(
            Opts::new(
                "idp_certificate_expiry_seconds",
                "Seconds until the integration's last valid IdP signing certificate expires",
            ),
            &["integration"],
        )?;
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(sign_ins.clone()),
            Box::new(scim_operations.clone()),
            Box::new(events_recorded.clone()),
            Box::new(webhook_deliveries.clone()),
            Box::new(webhook_oldest_undelivered.clone()),
            Box::new(idp_certificate_expiry.clone()),
        ] {
            registry.register(collector)?;
        }
        Ok(Metrics {
            registry,
            http_requests,
            http_duration,
            sign_ins,
            scim_operations,
            events_recorded,
            webhook_deliveries,
            webhook_oldest_undelivered,
            idp_certificate_expiry,
        })
    }

    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}
