//! Prometheus metrics, rendered in the text format at `/metrics`.
//!
//! One registry per running gateway (not a process global), so tests and
//! benchmarks can run several in one process.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    /// Sign-in attempts by integration kind and outcome (`success` or the refusal reason).
    pub sign_ins: IntCounterVec,
    /// SCIM operations by resource, operation and outcome.
    pub scim_operations: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("sso_gateway".into()), None).expect("valid registry prefix");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route pattern and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method and route pattern",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["method", "route"],
        )
        .expect("valid metric");
        let sign_ins = IntCounterVec::new(
            Opts::new(
                "sign_ins_total",
                "Sign-in attempts by integration kind and outcome",
            ),
            &["kind", "outcome"],
        )
        .expect("valid metric");
        let scim_operations = IntCounterVec::new(
            Opts::new(
                "scim_operations_total",
                "SCIM operations by resource, operation and outcome",
            ),
            &["resource", "operation", "outcome"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(sign_ins.clone()),
            Box::new(scim_operations.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Metrics {
            registry,
            http_requests,
            http_duration,
            sign_ins,
            scim_operations,
        }
    }

    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).expect("Prometheus text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
