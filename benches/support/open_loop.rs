//! Open-loop load at a fixed rate, as wrk2 and `oha -q` make it (Debian has
//! no wrk2; this is small enough to keep here and costs no build): requests
//! are due on a schedule that does not wait for answers, and a request whose
//! connection was still busy when it fell due is timed from when it was due.
//! A server that stalls is so charged for every request it held back
//! (no coordinated omission), while the generator's own wake-up lateness on
//! an idle connection is not charged to the server. Plain HTTP/1.1 GETs
//! over keep-alive connections, one thread each: a few system calls per
//! request, so it takes little from the cores it shares with the gateway.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What one open-loop run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenLoopResult {
    /// The rate asked for.
    pub offered_per_s: f64,
    /// Answers per second actually received.
    pub answered_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub non_2xx: u64,
}

/// GETs `url` with `headers` at `rate` requests/s in all, spread evenly over
/// `connections` connections, for `seconds`.
pub fn open_loop(
    url: &str,
    headers: &[(&str, &str)],
    rate: u64,
    connections: usize,
    seconds: u64,
) -> OpenLoopResult {
    let url = url::Url::parse(url).unwrap();
    let addr = format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    );
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {addr}\r\n",
        &url[url::Position::BeforePath..]
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    // Each connection sends every `period`, the connections staggered
    // across it so the requests arrive evenly.
    let period = Duration::from_secs_f64(connections as f64 / rate as f64);
    let per_connection = (seconds as f64 / period.as_secs_f64()) as u32;
    let start = Instant::now() + Duration::from_millis(200);
    let threads: Vec<_> = (0..connections)
        .map(|c| {
            let (addr, request) = (addr.clone(), request.clone());
            let offset = period * c as u32 / connections as u32;
            std::thread::spawn(move || {
                let mut conn = Connection::open(&addr);
                let mut latencies = Vec::with_capacity(per_connection as usize);
                let mut non_2xx = 0u64;
                let mut free_at = start;
                for i in 0..per_connection {
                    let due = start + offset + period * i;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let sent = Instant::now();
                    let from = if free_at > due { due } else { sent };
                    let status = conn.get(request.as_bytes());
                    free_at = Instant::now();
                    latencies.push(free_at - from);
                    non_2xx += u64::from(!(200..300).contains(&status));
                }
                (latencies, non_2xx, free_at)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut non_2xx, mut end) = (0, start);
    for t in threads {
        let (l, n, last) = t.join().unwrap();
        latencies.extend(l);
        non_2xx += n;
        end = end.max(last);
    }
    let max_ms = latencies.iter().max().unwrap().as_secs_f64() * 1000.0;
    let (answered_per_s, p50_ms, p99_ms) = super::rate_p50_p99(latencies, end - start);
    OpenLoopResult {
        offered_per_s: rate as f64,
        answered_per_s,
        p50_ms,
        p99_ms,
        max_ms,
        non_2xx,
    }
}

/// One keep-alive connection, reopened if the server closes it.
struct Connection {
    addr: String,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Connection {
    fn open(addr: &str) -> Connection {
        Connection {
            addr: addr.to_string(),
            stream: Self::connect(addr),
            buf: vec![0; 16 * 1024],
        }
    }

    fn connect(addr: &str) -> TcpStream {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// Sends `request`, reads the whole answer and returns its status.
    fn get(&mut self, request: &[u8]) -> u16 {
        loop {
            if let Some(status) = self.try_get(request) {
                return status;
            }
            self.stream = Self::connect(&self.addr);
        }
    }

    /// `None` when the connection turned out closed (reconnect and resend).
    fn try_get(&mut self, request: &[u8]) -> Option<u16> {
        self.stream.write_all(request).ok()?;
        let mut len = 0;
        let head_end = loop {
            let n = self.stream.read(&mut self.buf[len..]).ok()?;
            if n == 0 {
                return None;
            }
            len += n;
            if let Some(i) = self.buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(len < self.buf.len(), "answer head over 16 KiB");
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).unwrap();
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        let body: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().unwrap())
            })
            .expect("answers carry Content-Length");
        let mut rest = body.saturating_sub(len - head_end);
        while rest > 0 {
            let n = self
                .stream
                .read(&mut self.buf[..rest.min(16 * 1024)])
                .ok()?;
            if n == 0 {
                return None;
            }
            rest -= n;
        }
        Some(status)
    }
}
