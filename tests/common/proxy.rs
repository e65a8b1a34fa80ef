//! A TCP proxy on loopback that a test can cut: existing connections are dropped and new ones refused,
//! so a dependency becomes unreachable without stopping the shared server. It can be restored.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub struct TcpProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    cut: std::sync::Mutex<CancellationToken>,
    stop: CancellationToken,
}

impl TcpProxy {
    pub async fn start(target: String) -> Arc<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Arc::new(TcpProxy {
            port,
            up: Arc::new(AtomicBool::new(true)),
            cut: std::sync::Mutex::new(CancellationToken::new()),
            stop: CancellationToken::new(),
        });
        let me = proxy.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = me.stop.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((mut inbound, _)) = accepted else {
                    continue;
                };
                if !me.up.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let cut = me.cut.lock().unwrap().clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = cut.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        proxy
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut cut = self.cut.lock().unwrap();
        cut.cancel();
        *cut = CancellationToken::new();
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
