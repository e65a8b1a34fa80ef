//! The tree's restart rules, on a real actix system.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;

use super::{Restarts, Tree};
use crate::breaker::Observer;

#[derive(Default)]
struct Counted(Mutex<Vec<(&'static str, bool)>>);

impl Counted {
    fn restarts(&self, child: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|(c, restart)| *c == child && *restart).count()
    }
    fn declared(&self, child: &str) -> bool {
        self.0.lock().unwrap().iter().any(|(c, restart)| *c == child && !*restart)
    }
}

impl Restarts for Counted {
    fn declare(&self, child: &'static str) {
        self.0.lock().unwrap().push((child, false));
    }
    fn record(&self, child: &'static str) {
        self.0.lock().unwrap().push((child, true));
    }
}

fn tree() -> (Tree, Arc<Counted>) {
    let counted = Arc::new(Counted::default());
    let observer: Observer = Arc::new(|_, _, _| {});
    (Tree::new(observer, counted.clone()), counted)
}

/// Counts its starts; panics or stops on request.
struct Flaky {
    starts: Arc<AtomicU32>,
}

impl Actor for Flaky {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.starts.fetch_add(1, Ordering::SeqCst);
    }
}

impl Supervised for Flaky {}

#[derive(Message)]
#[rtype(result = "u32")]
struct Starts;

impl Handler<Starts> for Flaky {
    type Result = u32;
    fn handle(&mut self, _: Starts, _: &mut Context<Self>) -> u32 {
        self.starts.load(Ordering::SeqCst)
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Panic;

impl Handler<Panic> for Flaky {
    type Result = ();
    fn handle(&mut self, _: Panic, _: &mut Context<Self>) {
        panic!("a bug");
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Stop;

impl Handler<Stop> for Flaky {
    type Result = ();
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[test]
fn an_actor_that_panics_is_restarted_in_place_and_counted() {
    System::new().block_on(async {
        let (tree, counted) = tree();
        let starts = Arc::new(AtomicU32::new(0));
        let addr = tree.start_actor("flaky", Flaky { starts: starts.clone() });
        assert_eq!(addr.send(Starts).await.unwrap(), 1);
        assert!(counted.declared("flaky"));
        addr.do_send(Panic);
        // Sent while it is down: waits in the mailbox and is answered after the restart.
        assert_eq!(addr.send(Starts).await.unwrap(), 2, "the same address reaches the restarted actor");
        assert_eq!(counted.restarts("flaky"), 1);
        addr.do_send(Stop);
        assert_eq!(addr.send(Starts).await.unwrap(), 3, "a stopped actor still addressed comes back too");
        assert_eq!(counted.restarts("flaky"), 2);
    });
}

#[test]
fn an_actor_nobody_can_reach_stays_stopped_and_so_does_any_after_shutdown() {
    System::new().block_on(async {
        let (tree, counted) = tree();
        let starts = Arc::new(AtomicU32::new(0));
        tree.start_actor("gone", Flaky { starts: starts.clone() }).do_send(Stop);
        let addr = tree.start_actor("late", Flaky { starts: starts.clone() });
        tree.shut_down();
        addr.do_send(Stop);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 2, "one start each, no restart");
        assert_eq!((counted.restarts("gone"), counted.restarts("late")), (0, 0));
    });
}

#[test]
fn a_task_that_panics_or_fails_is_made_anew_and_one_that_finishes_is_not() {
    System::new().block_on(async {
        let (tree, counted) = tree();
        let runs = Arc::new(AtomicU32::new(0));
        let seen = runs.clone();
        tree.spawn_task("task", move || {
            let run = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                match run {
                    0 => panic!("a bug"),
                    1 => Err("lost its input".to_string()),
                    _ => Ok(()),
                }
            }
        });
        // Two backoffs (100 + 200 ms), however slow the machine.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::SeqCst) < 3 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert_eq!(counted.restarts("task"), 2);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "a task that finished is not made again");
    });
}
