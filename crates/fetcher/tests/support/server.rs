//! A hand-rolled HTTP/1.1 server on 127.0.0.1 for tests and benchmarks, with full control
//! over how badly it behaves: stalls after the headers, drips bytes, streams endless or
//! oversized bodies, serves compression bombs, redirects in circles, throttles.
//!
//! One thread per connection, one request per connection (`Connection: close`), so nothing
//! is shared between requests except the routes and the request log. Bodies can be streamed
//! from a generator, so a 50 MB or endless body never exists in memory.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Writes a body to the connection; returns when done or when the client went away.
pub type Generator = Arc<dyn Fn(&mut dyn Write) -> std::io::Result<()> + Send + Sync>;

/// What a response's body is.
#[derive(Clone)]
pub enum Body {
    Bytes(Vec<u8>),
    /// `total` bytes made of `chunk` repeated, written as they go.
    Repeat {
        chunk: Vec<u8>,
        total: u64,
    },
    /// Written by a generator; the length is unknown (chunked or close-delimited).
    Stream(Generator),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Bytes(b) => write!(f, "Bytes({})", b.len()),
            Body::Repeat { total, .. } => write!(f, "Repeat({total})"),
            Body::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// How the response is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// With Content-Length when the length is known, else chunked.
    Normal,
    /// Chunked transfer encoding even when the length is known.
    Chunked,
    /// Headers, then silence with the connection held open.
    StallAfterHeaders,
    /// One byte of the body every `interval`.
    Drip(Duration),
}

/// One canned response.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub delivery: Delivery,
    /// Wait this long before answering (a slow server).
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
            delivery: Delivery::Normal,
            delay: Duration::ZERO,
        }
    }

    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(200).header("Content-Type", content_type).body(body)
    }

    pub fn rss(body: &str) -> Reply {
        Reply::ok("application/rss+xml; charset=utf-8", body.as_bytes().to_vec())
    }

    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::new(status).header("Location", location)
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = Body::Bytes(body.into());
        self
    }

    pub fn stream(mut self, body: Body) -> Reply {
        self.body = body;
        self
    }

    pub fn delivery(mut self, delivery: Delivery) -> Reply {
        self.delivery = delivery;
        self
    }

    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// How a path answers.
#[derive(Clone, Debug)]
pub enum Route {
    Fixed(Reply),
    /// Successive requests get successive replies; the last one repeats.
    Sequence(Vec<Reply>),
    /// 304 when the request's If-None-Match is `etag`, else the reply with that ETag.
    Conditional {
        etag: String,
        reply: Reply,
    },
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Route>>,
    counters: Mutex<HashMap<String, usize>>,
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// The server; it runs until the process ends.
#[derive(Clone)]
pub struct Server {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared: Arc<Shared> = Arc::default();
        let s = shared.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = s.clone();
                thread::spawn(move || {
                    let _ = serve(stream, &s);
                });
            }
        });
        Server { addr, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The same server under the name `localhost` (a host name rather than an IP literal).
    pub fn url_by_name(&self, path: &str) -> String {
        format!("http://localhost:{}{}", self.addr.port(), path)
    }

    pub fn route(&self, path: &str, reply: Reply) {
        self.set(path, Route::Fixed(reply));
    }

    pub fn set(&self, path: &str, route: Route) {
        self.shared.routes.lock().unwrap().insert(path.to_string(), route);
        self.shared.counters.lock().unwrap().remove(path);
    }

    pub fn requests(&self, path: &str) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().iter().filter(|s| s.path == path).cloned().collect()
    }

    pub fn all_requests(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The most requests this server was working on at the same time (between receiving a
    /// request and starting its response).
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    // In flight from the request until its response starts: a client that waits for a
    // response before sending its next request can never be seen overlapping itself.
    let now_in_flight = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now_in_flight, Ordering::SeqCst);
    let guard = InFlight(shared);
    shared.seen.lock().unwrap().push(Seen { path: path.clone(), headers: headers.clone(), at: Instant::now() });
    let route = shared.routes.lock().unwrap().get(&path).cloned();
    let reply = match route {
        None => Reply::new(404).body("not found"),
        Some(Route::Fixed(r)) => r,
        Some(Route::Sequence(rs)) => {
            let mut counters = shared.counters.lock().unwrap();
            let n = counters.entry(path.clone()).or_insert(0);
            let r = rs[(*n).min(rs.len() - 1)].clone();
            *n += 1;
            r
        }
        Some(Route::Conditional { etag, reply }) => {
            if headers.get("if-none-match") == Some(&etag) {
                Reply::new(304).header("ETag", &etag)
            } else {
                reply.header("ETag", &etag)
            }
        }
    };
    if !reply.delay.is_zero() {
        thread::sleep(reply.delay);
    }
    drop(guard);
    let mut out = std::io::BufWriter::new(stream);
    write!(out, "HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status))?;
    for (k, v) in &reply.headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    let length = match &reply.body {
        Body::Bytes(b) => Some(b.len() as u64),
        Body::Repeat { total, .. } => Some(*total),
        Body::Stream(_) => None,
    };
    let chunked = reply.delivery == Delivery::Chunked || length.is_none();
    if chunked {
        write!(out, "Transfer-Encoding: chunked\r\n")?;
    } else if let Some(len) = length {
        write!(out, "Content-Length: {len}\r\n")?;
    }
    write!(out, "Connection: close\r\n\r\n")?;
    out.flush()?;
    match reply.delivery {
        Delivery::StallAfterHeaders => {
            // Hold the connection open, sending nothing, until the client gives up.
            let mut stream = out.into_inner().map_err(|e| e.into_error())?;
            for _ in 0..100 {
                thread::sleep(Duration::from_millis(100));
                if stream.write(&[]).is_err() {
                    break;
                }
            }
            return Ok(());
        }
        Delivery::Drip(interval) => {
            let mut stream = out.into_inner().map_err(|e| e.into_error())?;
            let bytes = match &reply.body {
                Body::Bytes(b) => b.clone(),
                _ => vec![b' '; 1 << 20],
            };
            for b in bytes {
                if chunked {
                    stream.write_all(format!("1\r\n{}\r\n", b as char).as_bytes())?;
                } else {
                    stream.write_all(&[b])?;
                }
                stream.flush()?;
                thread::sleep(interval);
            }
            return Ok(());
        }
        Delivery::Normal | Delivery::Chunked => {}
    }
    let mut sink: Box<dyn Write> = if chunked { Box::new(ChunkedWriter(out)) } else { Box::new(out) };
    match &reply.body {
        Body::Bytes(b) => sink.write_all(b)?,
        Body::Repeat { chunk, total } => {
            let mut left = *total;
            while left > 0 {
                let n = (chunk.len() as u64).min(left) as usize;
                sink.write_all(&chunk[..n])?;
                left -= n as u64;
            }
        }
        Body::Stream(generate) => generate(&mut sink)?,
    }
    sink.flush()?;
    drop(sink);
    Ok(())
}

/// Chunked transfer encoding over a writer; the final chunk is written on drop.
struct ChunkedWriter<W: Write>(W);

impl<W: Write> Write for ChunkedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        write!(self.0, "{:x}\r\n", buf.len())?;
        self.0.write_all(buf)?;
        self.0.write_all(b"\r\n")?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write> Drop for ChunkedWriter<W> {
    fn drop(&mut self) {
        let _ = self.0.write_all(b"0\r\n\r\n");
        let _ = self.0.flush();
    }
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("in-memory gzip");
    e.finish().expect("in-memory gzip")
}

/// A gzip body that expands to `gigabytes` GiB of zeros while only about 1 MiB per GiB
/// crosses the wire: a gzip header, then one deflate block of 1 MiB of zeros repeated
/// (valid, since each copy only refers back to zeros), streamed, never held in memory.
pub fn gzip_bomb(gigabytes: u64) -> Body {
    static UNIT: OnceLock<Vec<u8>> = OnceLock::new();
    let unit = UNIT
        .get_or_init(|| {
            let mut c = flate2::Compress::new(flate2::Compression::best(), false);
            let zeros = vec![0u8; 1 << 20];
            let mut out = Vec::with_capacity(4096);
            c.compress_vec(&zeros, &mut out, flate2::FlushCompress::Sync).expect("deflate");
            while c.total_in() < zeros.len() as u64 {
                out.reserve(4096);
                let at = c.total_in() as usize;
                c.compress_vec(&zeros[at..], &mut out, flate2::FlushCompress::Sync).expect("deflate");
            }
            out
        })
        .clone();
    let units = gigabytes * 1024;
    Body::Stream(Arc::new(move |w: &mut dyn Write| {
        w.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
        for _ in 0..units {
            w.write_all(&unit)?;
        }
        Ok(())
    }))
}
