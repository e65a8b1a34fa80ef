//! A TCP relay on loopback with three modes, for partitioning one process from a dependency:
//! - [`Relay::hold`]: connections stay open but nothing is forwarded either way (a black hole, as a
//!   dropped route or a full firewall looks: no reset, no answer); new connections are accepted and
//!   held too. What was read is forwarded on [`Relay::heal`].
//! - [`Relay::cut`]: every open connection is closed and new ones are closed at once.
//! - [`Relay::heal`]: forwarding again.
//!
//! Its tasks end when the relay drops.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Forward,
    Hold,
    Cut,
    /// The relay dropped: every task ends.
    Gone,
}

pub struct Relay {
    pub port: u16,
    mode: Arc<watch::Sender<Mode>>,
}

impl Relay {
    /// Relays `127.0.0.1:<port>` to `target` (`host:port`).
    pub async fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(watch::channel(Mode::Forward).0);
        let mut changes = mode.subscribe();
        let accepting = mode.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = changes.wait_for(|m| *m == Mode::Gone) => return,
                };
                let Ok((inbound, _)) = accepted else { continue };
                if *accepting.borrow() == Mode::Cut {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mode = accepting.subscribe();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&target).await else { return };
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    tokio::join!(pump(in_read, out_write, mode.clone()), pump(out_read, in_write, mode));
                });
            }
        });
        Relay { port, mode }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn hold(&self) {
        self.mode.send_replace(Mode::Hold);
    }

    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
    }

    pub fn heal(&self) {
        self.mode.send_replace(Mode::Forward);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Gone);
    }
}

/// Copies `from` to `to` while forwarding; holds what it read while held; ends on a cut (closing both).
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let ends = |m: &Mode| matches!(m, Mode::Cut | Mode::Gone);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = mode.wait_for(ends) => return,
        };
        match mode.wait_for(|m| *m != Mode::Hold).await.map(|m| *m) {
            Ok(Mode::Forward) => {}
            _ => return,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
