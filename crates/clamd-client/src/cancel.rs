//! A call's abort switch: flipped by the caller (a JS `AbortSignal`, through the binding), awaited
//! by everything working for the call.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A call's abort switch.
#[derive(Default)]
pub struct Cancel {
  flag: AtomicBool,
  notify: Notify,
}

impl Cancel {
  pub fn cancel(&self) {
    self.flag.store(true, Ordering::SeqCst);
    self.notify.notify_waiters();
  }

  pub fn is_cancelled(&self) -> bool {
    self.flag.load(Ordering::SeqCst)
  }

  pub async fn cancelled(&self) {
    loop {
      let notified = self.notify.notified();
      if self.is_cancelled() {
        return;
      }
      notified.await;
    }
  }
}
