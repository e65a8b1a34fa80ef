//! The Redis bus between nodes, through its port: what one node subscribes to it receives from
//! another, whether it asked for one topic or for thousands at once (a connect burst), and nothing
//! after it unsubscribed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use rustchat::cluster::Keys;
use rustchat_actors::ports::{Bus, BusMessage, BusReceived, BusReconnected, Topic};
use uuid::Uuid;

use crate::common::{eventually, redis_available, start_redis_bus};

/// Remembers the users whose topic carried a message, in arrival order.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Uuid>>>);

impl Received {
    fn users(&self) -> Vec<Uuid> {
        self.0.lock().unwrap().clone()
    }
}

impl Actor for Received {
    type Context = Context<Self>;
}

impl Handler<BusReceived> for Received {
    type Result = ();
    fn handle(&mut self, BusReceived(message): BusReceived, _: &mut Context<Self>) {
        if let BusMessage::User { user, .. } = message {
            self.0.lock().unwrap().push(user);
        }
    }
}

impl Handler<BusReconnected> for Received {
    type Result = ();
    fn handle(&mut self, _: BusReconnected, _: &mut Context<Self>) {}
}

fn hello(user: Uuid) -> BusMessage {
    BusMessage::User { user, text: "hello".into() }
}

#[actix_web::test]
async fn topics_subscribed_in_a_burst_all_receive_and_unsubscribed_ones_stop() {
    if !redis_available().await {
        return;
    }
    let keys = Keys::new(&format!("bus-{}", Uuid::now_v7().simple()));
    let ((publisher, _a), (subscriber, _b)) = (start_redis_bus(&keys), start_redis_bus(&keys));
    let received = Received::default();
    let inbox = received.clone().start();
    subscriber.attach(inbox.clone().recipient(), inbox.recipient());
    eventually(Duration::from_secs(10), "both buses to connect", || async {
        (publisher.is_connected() && subscriber.is_connected()).then_some(())
    })
    .await;

    // More topics than go in one subscription command, all asked for before any is answered.
    let users: Vec<Uuid> = (0..1_200).map(|_| Uuid::now_v7()).collect();
    let asked: Vec<_> = users.iter().map(|u| subscriber.subscribe(Topic::User(*u))).collect();
    for answer in futures_util::future::join_all(asked).await {
        answer.expect("every subscription is made");
    }
    for user in &users {
        publisher.publish(hello(*user));
    }
    let all: HashSet<Uuid> = users.iter().copied().collect();
    eventually(Duration::from_secs(10), "a message on every subscribed topic", || {
        let done = received.users().into_iter().collect::<HashSet<Uuid>>() == all;
        async move { done.then_some(()) }
    })
    .await;

    // Half of them unsubscribed in one burst; a topic kept subscribed marks the end of what follows.
    let (gone, kept) = users.split_at(600);
    for user in gone {
        subscriber.unsubscribe(Topic::User(*user));
    }
    let marker = Uuid::now_v7();
    subscriber.subscribe(Topic::User(marker)).await.expect("the marker's subscription is made");
    let before = received.users().len();
    for user in users.iter().chain([&marker]) {
        publisher.publish(hello(*user));
    }
    eventually(Duration::from_secs(10), "the marker's message", || {
        let seen = received.users();
        async move { seen.contains(&marker).then_some(()) }
    })
    .await;
    // One publisher connection and one subscriber connection: Redis delivers in publish order, so
    // everything published before the marker has arrived by now.
    let after: Vec<Uuid> = received.users()[before..].to_vec();
    let gone: HashSet<&Uuid> = gone.iter().collect();
    assert!(after.iter().all(|u| !gone.contains(u)), "a message reached an unsubscribed topic");
    let kept_seen: HashSet<&Uuid> = after.iter().filter(|u| **u != marker).collect();
    assert_eq!(kept_seen, kept.iter().collect::<HashSet<_>>(), "every topic still subscribed received");
}
