//! The HTTP load driver: keep-alive HTTP/1.1 connections (hyper's client connection over a
//! tokio `TcpStream`), each its own task sending requests back to back, for a warm-up and
//! then a measured interval; every measured request's latency is recorded. Anything but a
//! 2xx answer is an error, counted by status, with a few bodies kept to show what it was.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, header};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// One request to send.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// A JSON body, sent as `application/scim+json`.
    pub body: Option<Bytes>,
}

impl Req {
    pub fn get(path: impl Into<String>) -> Req {
        Req {
            method: Method::GET,
            path: path.into(),
            body: None,
        }
    }

    pub fn with_body(method: Method, path: impl Into<String>, body: impl Into<Bytes>) -> Req {
        Req {
            method,
            path: path.into(),
            body: Some(body.into()),
        }
    }
}

/// Makes the `n`-th request of a run (`n` counts across all connections, so it is unique).
pub type MakeReq = Arc<dyn Fn(u64) -> Req + Send + Sync>;

/// How a run is driven.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub connections: usize,
    pub warmup: Duration,
    pub measure: Duration,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape {
            connections: 16,
            warmup: Duration::from_secs(1),
            measure: Duration::from_secs(5),
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Requests answered (any status) within the measured interval.
    pub requests: u64,
    pub rps: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// Non-2xx answers within the measured interval, by status.
    pub errors: BTreeMap<u16, u64>,
    /// Connections that failed or closed under a request (reconnected).
    pub transport_errors: u64,
    /// A few error bodies (status and the first bytes), to show what went wrong.
    pub samples: Vec<String>,
    /// Requests made in all, warm-up included (how many unique names or users were used).
    pub issued: u64,
}

impl Stats {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum::<u64>() + self.transport_errors
    }
}

/// A connection to one server.
pub struct Conn {
    addr: SocketAddr,
    host: String,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            addr,
            host: addr.to_string(),
            sender,
        })
    }

    /// Sends one request and reads the whole answer.
    pub async fn send(&mut self, req: &Req, auth: Option<&str>) -> Result<(u16, Bytes), hyper::Error> {
        let mut b = Request::builder()
            .method(req.method.clone())
            .uri(req.path.as_str())
            .header(header::HOST, self.host.as_str());
        if let Some(token) = auth {
            b = b.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match &req.body {
            Some(body) => {
                b = b.header(header::CONTENT_TYPE, "application/scim+json");
                Full::new(body.clone())
            }
            None => Full::new(Bytes::new()),
        };
        let request = b.body(body).expect("a well-formed request");
        self.sender.ready().await?;
        let resp = self.sender.send_request(request).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// A fresh connection to the same server, after this one failed.
    pub async fn reopen(&mut self) -> std::io::Result<()> {
        *self = Conn::open(self.addr).await?;
        Ok(())
    }
}

#[derive(Default)]
struct TaskResult {
    latencies: Vec<Duration>,
    errors: BTreeMap<u16, u64>,
    transport_errors: u64,
    samples: Vec<String>,
}

/// Drives `shape.connections` connections, spread in turn over `addrs`, for the warm-up
/// and then the measured interval, each sending `make(n)` back to back.
pub async fn run(addrs: &[SocketAddr], shape: Shape, auth: Option<&str>, make: MakeReq) -> Stats {
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measure_from = start + shape.warmup;
    let end = measure_from + shape.measure;
    let auth: Option<Arc<str>> = auth.map(Arc::from);
    let mut tasks = Vec::with_capacity(shape.connections);
    for c in 0..shape.connections {
        let addr = addrs[c % addrs.len()];
        let counter = counter.clone();
        let make = make.clone();
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = TaskResult::default();
            let mut conn = match Conn::open(addr).await {
                Ok(conn) => conn,
                Err(e) => {
                    out.transport_errors += 1;
                    out.samples.push(format!("connect {addr}: {e}"));
                    return out;
                }
            };
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let req = make(counter.fetch_add(1, Ordering::Relaxed));
                let answer = conn.send(&req, auth.as_deref()).await;
                let done = Instant::now();
                let measured = sent >= measure_from && done <= end;
                match answer {
                    Ok((status, body)) => {
                        if measured {
                            out.latencies.push(done - sent);
                        }
                        if !(200..300).contains(&status) {
                            if measured {
                                *out.errors.entry(status).or_default() += 1;
                            }
                            if out.samples.len() < 2 {
                                let text = String::from_utf8_lossy(&body[..body.len().min(240)]).into_owned();
                                out.samples
                                    .push(format!("{status} {} {}: {text}", req.method, req.path));
                            }
                        }
                    }
                    Err(e) => {
                        out.transport_errors += 1;
                        if out.samples.len() < 2 {
                            out.samples.push(format!("{} {}: {e}", req.method, req.path));
                        }
                        if conn.reopen().await.is_err() {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }
            out
        }));
    }
    let mut latencies = Vec::new();
    let mut stats = Stats::default();
    for t in tasks {
        let r = t.await.expect("a load task finishes");
        latencies.extend(r.latencies);
        for (status, n) in r.errors {
            *stats.errors.entry(status).or_default() += n;
        }
        stats.transport_errors += r.transport_errors;
        for s in r.samples {
            if stats.samples.len() < 3 {
                stats.samples.push(s);
            }
        }
    }
    latencies.sort_unstable();
    stats.requests = latencies.len() as u64;
    stats.rps = stats.requests as f64 / shape.measure.as_secs_f64();
    stats.p50 = percentile(&latencies, 0.50);
    stats.p99 = percentile(&latencies, 0.99);
    stats.issued = counter.load(Ordering::Relaxed);
    stats
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
