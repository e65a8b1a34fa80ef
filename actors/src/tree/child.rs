//! How the tree runs one child: every poll under `catch_unwind`, and a crashed or stopped child
//! started again after its backoff. An actor is restarted in place (same address, same mailbox);
//! a task is made anew by its factory.

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Poll, ready};
use std::time::Instant;

use actix::dev::ContextFut;
use actix::{Actor, Addr, AsyncContext, Context, Supervised};
use futures_util::FutureExt;

use super::backoff::Backoff;
use super::{Exit, Tree, panic_text};

pub(super) fn start_actor<A>(tree: Tree, name: &'static str, actor: A) -> Addr<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    let ctx = Context::new();
    let addr = ctx.address();
    let fut = ctx.into_future(actor);
    actix::spawn(SupervisedActor {
        fut,
        tree,
        name,
        backoff: Backoff::default(),
        restarts: 0,
        since: Instant::now(),
        sleep: None,
    });
    addr
}

struct SupervisedActor<A: Actor<Context = Context<A>>> {
    fut: ContextFut<A, Context<A>>,
    tree: Tree,
    name: &'static str,
    backoff: Backoff,
    restarts: u64,
    /// When the current run began.
    since: Instant,
    /// The backoff before the next start, while the child is down.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<A> Future for SupervisedActor<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                this.sleep = None;
                // `restart` refuses when nobody holds the address any more: nothing to come back for.
                if this.tree.is_stopping() || !this.fut.restart() {
                    return Poll::Ready(());
                }
                this.since = Instant::now();
            }
            let exit = match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut this.fut).poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                // Stopped with no one left to send it anything: its work is done.
                Ok(Poll::Ready(())) if !this.fut.ctx().connected() => return Poll::Ready(()),
                Ok(Poll::Ready(())) => Exit::Stopped,
                Err(payload) => Exit::Panicked(panic_text(&*payload)),
            };
            if this.tree.is_stopping() {
                return Poll::Ready(());
            }
            this.restarts += 1;
            let delay = this.backoff.after(this.since.elapsed());
            this.tree.restarting(this.name, this.restarts, delay, &exit);
            this.sleep = Some(Box::pin(tokio::time::sleep(delay)));
        }
    }
}

pub(super) fn spawn_task<F, Fut>(tree: Tree, name: &'static str, mut run: F)
where
    F: FnMut() -> Fut + 'static,
    Fut: Future<Output = Result<(), String>> + 'static,
{
    actix::spawn(async move {
        let mut backoff = Backoff::default();
        let mut restarts = 0;
        loop {
            let since = Instant::now();
            let task = run();
            #[cfg(debug_assertions)]
            let task = tree.faults().crashable(name, task);
            let exit = match AssertUnwindSafe(task).catch_unwind().await {
                Ok(Ok(())) => return,
                Ok(Err(error)) => Exit::Failed(error),
                Err(payload) => Exit::Panicked(panic_text(&*payload)),
            };
            if tree.is_stopping() {
                return;
            }
            restarts += 1;
            let delay = backoff.after(since.elapsed());
            tree.restarting(name, restarts, delay, &exit);
            tokio::time::sleep(delay).await;
        }
    });
}
