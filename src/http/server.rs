//! The HTTP server, built the way actix-web's `HttpServer::listen` builds it, with one change:
//! each accepted connection is wrapped in [`ErrorEnvelopeStream`], so the errors the h1
//! dispatcher answers by itself get the JSON envelope too (see [`super::connection`]).
//! `HttpServer` offers no way to wrap the stream, so this does by hand what it does:
//! an `actix_server::Server` (workers, signals, graceful shutdown) serving an `HttpService`
//! over the application, with actix-web's defaults for keep-alive and client timeouts.

use std::fmt;
use std::net::TcpListener;
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::error::DispatchError;
use actix_http::{HttpService, KeepAlive, Protocol, Request, Response};
use actix_rt::net::TcpStream;
use actix_server::{Server, ServerBuilder};
use actix_service::{
    fn_service, map_config, IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt as _,
};
use actix_web::dev::AppConfig;

use super::connection::ErrorEnvelopeStream;

/// How the server runs.
#[derive(Debug, Clone, Copy)]
pub struct ServerSettings {
    /// Worker threads, each running one instance of the application.
    pub workers: usize,
    /// Seconds requests in flight get to finish after a stop signal.
    pub shutdown_timeout_secs: u64,
}

/// Serves `app` (a factory of `App`s, one per worker, as for `HttpServer::new`) on `listener`
/// until SIGTERM/SIGINT or the returned server's handle stops it. Must be called inside an
/// actix `System`; the server runs once it is awaited or its handle is used.
pub fn serve<F, I, S, B>(
    listener: TcpListener,
    settings: ServerSettings,
    app: F,
) -> std::io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let host = addr.to_string();
    let builder = ServerBuilder::default()
        .workers(settings.workers)
        .shutdown_timeout(settings.shutdown_timeout_secs);
    let graceful = builder.graceful_shutdown_signal();
    let builder = builder.listen(format!("ordercenter-http-{addr}"), listener, move || {
        let graceful = graceful.clone();
        let host = host.clone();
        let app = app()
            .into_factory()
            .map_err(|error| error.into().error_response());
        let http = HttpService::build()
            // Lets idle keep-alive connections close at once on a graceful stop, as
            // `HttpServer` does (hidden in actix-http's docs, but what actix-web calls).
            .graceful_shutdown_signal(move || {
                let graceful = graceful.clone();
                async move { graceful.notified().await }
            })
            // actix-web's defaults (`HttpServer::new`).
            .keep_alive(KeepAlive::default())
            .client_request_timeout(Duration::from_secs(5))
            .client_disconnect_timeout(Duration::from_secs(1))
            .h1_allow_half_closed(true)
            .local_addr(addr)
            .finish(map_config(app, move |_| {
                // `AppConfig::new` is crate-private; this is the constructor actix-test uses
                // for the same purpose (semver-exempt: an actix-web update may rename it,
                // which fails the build rather than the service).
                AppConfig::__priv_test_new(false, host.clone(), addr)
            }));
        fn_service(|io: TcpStream| async move {
            let peer = io.peer_addr().ok();
            Ok::<_, DispatchError>((ErrorEnvelopeStream::new(io), Protocol::Http1, peer))
        })
        .and_then(http)
    })?;
    Ok(builder.run())
}
