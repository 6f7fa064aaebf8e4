//! One queue per chat: a chat's events are handled one after another, in the order they came,
//! while different chats run concurrently. Shared by the channels whose platform delivers events
//! by webhook or polling (Telegram, Teams), where two messages of one chat can arrive together.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What handles one chat's events.
#[async_trait::async_trait]
pub trait Handle<T>: Send + Sync + 'static {
    async fn handle(&self, item: T);
}

pub struct ChatQueues<K, T> {
    queues: Mutex<HashMap<K, mpsc::UnboundedSender<T>>>,
    workers: TaskTracker,
    shutdown: CancellationToken,
    /// A chat's worker ends after this long without events.
    idle: Duration,
}

impl<K, T> ChatQueues<K, T>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    T: Send + 'static,
{
    pub fn new(shutdown: CancellationToken, idle: Duration) -> Arc<Self> {
        Arc::new(Self {
            queues: Mutex::new(HashMap::new()),
            workers: TaskTracker::new(),
            shutdown,
            idle,
        })
    }

    /// Queues `item` on chat `key`'s queue, starting its worker if it has none.
    pub fn enqueue<H: Handle<T>>(self: &Arc<Self>, handler: &Arc<H>, key: K, item: T) {
        let mut queues = self
            .queues
            .lock()
            .expect("queue map is never poisoned: no code panics holding it");
        let item = match queues.get(&key) {
            Some(tx) => match tx.send(item) {
                Ok(()) => return,
                Err(mpsc::error::SendError(item)) => item,
            },
            None => item,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        // A fresh channel's receiver is held below, so this send cannot fail.
        let _ = tx.send(item);
        queues.insert(key.clone(), tx);
        let this = Arc::clone(self);
        let handler = Arc::clone(handler);
        self.workers
            .spawn(async move { this.worker(handler, key, rx).await });
    }

    /// Waits for every queued event to be handled (after shutdown was requested).
    pub async fn drain(&self) {
        self.workers.close();
        self.workers.wait().await;
    }

    /// One chat's events, one after another.
    async fn worker<H: Handle<T>>(
        self: Arc<Self>,
        handler: Arc<H>,
        key: K,
        mut rx: mpsc::UnboundedReceiver<T>,
    ) {
        loop {
            let next = tokio::select! {
                item = rx.recv() => item,
                _ = tokio::time::sleep(self.idle) => None,
                _ = self.shutdown.cancelled() => None,
            };
            let item = match next {
                Some(item) => item,
                None => {
                    // Leave only with an empty queue, decided under the map lock so no event is
                    // sent to a queue nobody reads.
                    let mut queues = self
                        .queues
                        .lock()
                        .expect("queue map is never poisoned: no code panics holding it");
                    match rx.try_recv() {
                        Ok(item) => {
                            drop(queues);
                            item
                        }
                        Err(_) => {
                            queues.remove(&key);
                            return;
                        }
                    }
                }
            };
            // Boxed: the turn's future is large (the whole turn, HTTP calls included) and would
            // otherwise be part of every idle worker's state — memory per open chat, not per turn.
            Box::pin(handler.handle(item)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Record(Mutex<Vec<(u8, u32)>>);

    #[async_trait::async_trait]
    impl Handle<(u8, u32)> for Record {
        async fn handle(&self, item: (u8, u32)) {
            // Later items of a chat finish sooner: only the queue keeps them in order.
            tokio::time::sleep(Duration::from_millis(u64::from(10 - item.1 % 10))).await;
            self.0.lock().unwrap().push(item);
        }
    }

    #[tokio::test]
    async fn each_chat_keeps_its_order_and_every_item_is_handled() {
        let queues = ChatQueues::new(CancellationToken::new(), Duration::from_secs(60));
        let record = Arc::new(Record(Mutex::new(Vec::new())));
        for n in 0..10u32 {
            for chat in 0..3u8 {
                queues.enqueue(&record, chat, (chat, n));
            }
        }
        let shutdown_soon = queues.shutdown.clone();
        tokio::time::sleep(Duration::from_millis(300)).await;
        shutdown_soon.cancel();
        queues.drain().await;
        let seen = record.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 30);
        for chat in 0..3u8 {
            let order: Vec<u32> = seen.iter().filter(|i| i.0 == chat).map(|i| i.1).collect();
            assert_eq!(order, (0..10).collect::<Vec<_>>(), "chat {chat}");
        }
    }
}
