//! A small, fast web server for the proxy benchmark (`bench/proxy/run.sh`): answers every
//! request with the same 1 KiB page, keep-alive, on the address given (default
//! 127.0.0.1:9080). Not part of schoolgate; the origin must never be the bottleneck.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9080)));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let page = Bytes::from(format!(
        "<!doctype html><title>origin</title><p>{}</p>\n",
        "schoolgate benchmark page ".repeat(38)
    ));
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let page = page.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |_req| {
                let page = page.clone();
                async move { Ok::<_, Infallible>(Response::new(Full::new(page))) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
