//! Start-up wiring: builds the services and the state from the settings,
//! binds the listeners, serves the HTTP service ([`crate::api::service`])
//! and shuts down gracefully.

use std::{future::Future, io, sync::Arc, time::Duration};

use poem::{
    Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};

use crate::{
    api::{self, AppState, security::OAuthClients},
    config::Settings,
    cos_client::CosClient,
    local_cos::{CosSpelling, LocalCos},
    login::{Login, LoginPolicy},
    media_check::{MediaCheck, MediaCheckSettings},
    metrics::Metrics,
    ratelimit::Limits,
    sessions::Sessions,
    signing::Signing,
    store::{Schema, Store, StoreError},
    sts::{CredentialCache, StsClient},
    uploads::Uploads,
    webhooks::Deliverer,
    wechat::WechatClient,
};

/// How long cosgate's own calls to COS may take.
const COS_TIMEOUT: Duration = Duration::from_secs(10);

/// How long in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

impl AppState {
    /// Connects the store (migrating it) and builds the keys, clients and
    /// services.
    pub async fn new(settings: Settings) -> Result<Self, StoreError> {
        let metrics = Arc::new(Metrics::default());
        let schema = if settings.migrate_on_start {
            Schema::Migrate
        } else {
            Schema::Require
        };
        let store = Store::open(&settings.database_url, schema)
            .await?
            .with_metrics(metrics.clone());
        let login = &settings.login;
        let wechat = WechatClient::new(
            &login.wechat_api_base,
            &login.wxapp_id,
            login.wxapp_secret.clone(),
            Duration::from_millis(login.wechat_timeout_ms),
            login.dev_login,
        );
        let jwt = Arc::new(settings.jwt.keys());
        let sessions = Arc::new(Sessions::new(
            store.clone(),
            Duration::from_secs(settings.session_check_seconds),
        ));
        let policy = LoginPolicy {
            auto_register: login.auto_register,
            access_ttl: settings.jwt.access_ttl,
            refresh_ttl: settings.jwt.refresh_ttl,
        };
        let limits = Limits::new(
            settings.rate_limit_sign_per_min,
            settings.rate_limit_login_per_min,
        )
        .with_parts(settings.rate_limit_parts_per_min);
        let limits = match &settings.redis_url {
            Some(url) => {
                use secrecy::ExposeSecret;
                match crate::ratelimit::Shared::connect(url.expose_secret()).await {
                    Some(shared) => limits.shared_by(shared),
                    None => limits,
                }
            }
            None => {
                tracing::info!("rate limits are per replica (set REDIS_URL to share them)");
                limits
            }
        };
        limits.spawn_janitor();
        let (signing, uploads, media_check) =
            signing_and_uploads(&settings, &store, limits.clone(), &metrics);
        let uploads = Arc::new(uploads);
        spawn_sweeper(
            uploads.clone(),
            store.clone(),
            metrics.clone(),
            settings.uploads.sweep_seconds,
        );
        if let Some(deliverer) = Deliverer::new(&settings.webhooks, store.clone(), metrics.clone())
        {
            Arc::new(deliverer).spawn(Duration::from_millis(settings.webhooks.poll_ms));
        }
        Ok(Self {
            signing,
            uploads,
            media_check,
            limits,
            clients: Arc::new(OAuthClients::new(&login.oauth_clients)),
            login: Login::new(
                store.clone(),
                wechat,
                jwt.clone(),
                policy,
                metrics.clone(),
                sessions.clone(),
            ),
            sessions,
            metrics,
            store,
            jwt,
            settings,
        })
    }
}

/// WeChat's content security, when `MODERATION=wechat`.
fn media_check(settings: &Settings, store: &Store) -> Option<Arc<MediaCheck>> {
    let wechat = settings.moderation.as_ref()?.wechat.as_ref()?;
    let login = &settings.login;
    Some(Arc::new(MediaCheck::new(
        &MediaCheckSettings {
            base: login.wechat_api_base.clone(),
            appid: login.wxapp_id.clone(),
            secret: login.wxapp_secret.clone(),
            timeout: Duration::from_millis(login.wechat_timeout_ms),
            scene: wechat.scene,
            push_token: wechat.push_token.clone(),
            aes_key: wechat.aes_key.clone(),
        },
        store.clone(),
    )))
}

/// The signing service, upload sessions and (with `MODERATION=wechat`)
/// WeChat's content security over `store`, as the server and the operator's
/// commands both build them.
fn signing_and_uploads(
    settings: &Settings,
    store: &Store,
    limits: Limits,
    metrics: &Arc<Metrics>,
) -> (Arc<Signing>, Uploads, Option<Arc<MediaCheck>>) {
    let sts = &settings.sts;
    let credentials = CredentialCache::new(
        StsClient::new(
            &sts.endpoint,
            &settings.cos.region,
            settings.cos.credentials.clone(),
            Duration::from_millis(sts.timeout_ms),
        ),
        sts.cache_entries,
        sts.ttl,
        metrics.clone(),
    );
    let signing = Arc::new(Signing::new(
        settings,
        credentials,
        store.clone(),
        limits,
        metrics.clone(),
    ));
    let media_check = media_check(settings, store);
    let cos = &settings.cos;
    let uploads = Uploads::new(
        settings.uploads.clone(),
        cos.clone(),
        store.clone(),
        CosClient::new(
            &cos.endpoint,
            cos.host(),
            cos.credentials.clone(),
            COS_TIMEOUT,
        ),
        signing.clone(),
        metrics.clone(),
        settings.webhooks.url.is_some(),
    )
    .with_moderation(settings.moderation.clone())
    .with_media_check(media_check.clone());
    (signing, uploads, media_check)
}

/// Upload sessions for an operator's command (`cosgate uploads …`): the
/// same service the server runs, on the same store and bucket, with no
/// background work (no sweeper, no webhook delivery: the servers' do it)
/// and no rate limits.
pub async fn operator_uploads(settings: &Settings) -> Result<Uploads, StoreError> {
    let store = Store::open(&settings.database_url, Schema::Require).await?;
    let metrics = Arc::new(Metrics::default());
    let (_, uploads, _) = signing_and_uploads(settings, &store, Limits::new(0, 0), &metrics);
    Ok(uploads)
}

/// How long a delivered or given-up event stays in the outbox.
const OUTBOX_KEPT_SECONDS: u64 = 7 * 86_400;

/// Sweeps upload sessions every `seconds` for as long as the process runs
/// (see [`Uploads::sweep`]), on one replica at a time: a round runs only
/// while this process holds the `sweeper` lease in the store, which it
/// renews each round and another replica takes over only once it has run
/// out. A failed round is logged and tried again.
fn spawn_sweeper(uploads: Arc<Uploads>, store: Store, metrics: Arc<Metrics>, seconds: u64) {
    let holder = crate::signer::hex(&crate::clock::random_bytes::<8>());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(seconds));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let now = crate::clock::unix_now();
            let lease = (now + 2 * seconds + 1) as i64;
            match store
                .take_lease("sweeper", &holder, now as i64, lease)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "the sweeper lease could not be read");
                    continue;
                }
            }
            match uploads.sweep(now).await {
                Ok((expired, released, orphans)) => metrics.sweep(expired, released, orphans),
                Err(e) => tracing::warn!(error = %e, "upload sweeper round failed"),
            }
            // Delivered and given-up events are kept a week, for operators.
            let week_ago = now.saturating_sub(OUTBOX_KEPT_SECONDS) as i64;
            if let Err(e) = store.prune_outbox(week_ago).await {
                tracing::warn!(error = %e, "the outbox could not be pruned");
            }
        }
    });
}

/// A bound, not yet running server. Tests bind port 0 and read [`port`].
///
/// [`port`]: Application::port
pub struct Application {
    acceptor: TcpAcceptor,
    port: u16,
    /// `/metrics` on its own address (`METRICS_BIND`).
    metrics: Option<(TcpAcceptor, u16)>,
    /// Development's local COS (`LOCAL_COS`), on its own loopback address.
    local_cos: Option<(TcpAcceptor, Arc<LocalCos>)>,
    state: Arc<AppState>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds the local COS if it is on (and points the settings at where it
    /// listens), connects the store, then binds `settings.bind`.
    pub async fn build(mut settings: Settings) -> io::Result<Self> {
        let local_cos = match settings.local_cos.clone() {
            Some(local) => {
                let (acceptor, port) = bind_tcp(local.bind).await.map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "the local COS cannot listen on {} (LOCAL_COS_BIND): {e}",
                            local.bind
                        ),
                    )
                })?;
                // Configuration refuses it in production; this is the second
                // guard.
                if settings.is_production() {
                    return Err(io::Error::other("the local COS is for development only"));
                }
                settings.use_local_cos_at(std::net::SocketAddr::new(local.bind.ip(), port));
                let local = settings.local_cos.clone().expect("set just above");
                let cannot = |e: io::Error| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "the local COS cannot use {} (LOCAL_COS_DIR): {e}",
                            local.dir.display()
                        ),
                    )
                };
                LocalCos::own_root_key(&local, &mut settings).map_err(cannot)?;
                let cos = LocalCos::open(&local, &settings).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "the local COS cannot use {} (LOCAL_COS_DIR): {e}",
                            local.dir.display()
                        ),
                    )
                })?;
                Some((acceptor, Arc::new(cos)))
            }
            None => None,
        };
        let bind = settings.bind;
        let state = AppState::new(settings)
            .await
            .map_err(|e| io::Error::other(format!("cannot open the database: {e}")))?;
        let metrics = match state.settings.metrics_bind {
            Some(addr) => Some(bind_tcp(addr).await?),
            None => None,
        };
        let (acceptor, port) = bind_tcp(bind).await?;
        Ok(Self {
            acceptor,
            port,
            metrics,
            local_cos,
            state: Arc::new(state),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the local COS, when it is on (`LOCAL_COS`).
    pub fn local_cos_port(&self) -> Option<u16> {
        self.local_cos.as_ref().and_then(|_| {
            let local = self.state.settings.local_cos.as_ref()?;
            Some(local.bind.port())
        })
    }

    /// The port of `/metrics` when `METRICS_BIND` gave it its own.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.run_until(shutdown_signal()?).await
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        tracing::info!(port = self.port, "cosgate listening");
        let scraper = self.metrics.map(|(acceptor, port)| {
            tracing::info!(port, "metrics listening");
            let scrape = api::metrics_service(&self.state);
            tokio::spawn(Server::new_with_acceptor(acceptor).run(scrape))
        });
        let local_cos = self.local_cos.map(|(acceptor, cos)| {
            tracing::info!(
                endpoint = %self.state.settings.cos.endpoint,
                folder = %cos.dir().display(),
                "local COS listening (development only)"
            );
            tokio::spawn(Server::new_with_acceptor(CosSpelling(acceptor)).run(cos.endpoint()))
        });
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(api::service(self.state), shutdown, Some(SHUTDOWN_GRACE))
            .await;
        for task in [scraper, local_cos].into_iter().flatten() {
            task.abort();
        }
        served
    }
}

/// A listener on `addr` and the port it got.
async fn bind_tcp(addr: std::net::SocketAddr) -> io::Result<(TcpAcceptor, u16)> {
    let acceptor = TcpListener::bind(addr).into_acceptor().await?;
    let port = acceptor
        .local_addr()
        .first()
        .and_then(|addr| addr.as_socket_addr().map(|a| a.port()))
        .ok_or_else(|| io::Error::other("the listener has no TCP address"))?;
    Ok((acceptor, port))
}

/// Completes at SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled, so a signal that arrives
/// between the two is not lost (and does not kill the process).
#[cfg(unix)]
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down");
    })
}

/// Completes at Ctrl-C.
#[cfg(not(unix))]
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
}
