//! Freeing what the writer is done with, off its thread.
//!
//! The writer is the one thread every accepted change passes through, so time it spends
//! freeing memory is time no change is decided: a group's committed entries that no live
//! subscriber takes (each holds its change and its entity's head) are freed here instead.

use std::sync::mpsc;

/// Something to free later.
type Garbage = Box<dyn Send>;

/// Hands values to a thread that frees them; inline when it has none.
pub(super) struct Dropper {
    tx: Option<mpsc::Sender<Garbage>>,
}

impl Dropper {
    /// A dropper with a thread of its own (it ends when the dropper is dropped); one that frees
    /// inline when the thread cannot be started.
    pub(super) fn spawn() -> Self {
        let (tx, rx) = mpsc::channel::<Garbage>();
        let started = std::thread::Builder::new()
            .name("hotline-drop".into())
            .spawn(move || rx.into_iter().for_each(drop));
        match started {
            Ok(_) => Dropper { tx: Some(tx) },
            Err(error) => {
                tracing::warn!(%error, "no thread to free memory on; the writer frees it");
                Dropper::inline()
            }
        }
    }

    /// A dropper that frees on the caller's thread (the writer as a task: a simulation keeps
    /// every host on one thread).
    pub(super) fn inline() -> Self {
        Dropper { tx: None }
    }

    /// Frees `value` on the dropper's thread, or here when it has none or it is gone.
    pub(super) fn free<T: Send + 'static>(&self, value: T) {
        if let Some(tx) = &self.tx {
            // A send fails only when the thread is gone; the value then comes back and is
            // freed here.
            let _ = tx.send(Box::new(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;

    /// A value handed over is freed, on the dropper's thread, and an inline dropper frees at
    /// once.
    #[test]
    fn a_value_handed_over_is_freed_elsewhere() {
        let value = Arc::new(std::sync::Mutex::new(None::<String>));
        struct Marks(Arc<std::sync::Mutex<Option<String>>>);
        impl Drop for Marks {
            fn drop(&mut self) {
                let name = std::thread::current().name().map(str::to_owned);
                *self.0.lock().unwrap() = Some(name.unwrap_or_default());
            }
        }
        let dropper = Dropper::spawn();
        dropper.free(Marks(Arc::clone(&value)));
        let started = Instant::now();
        while value.lock().unwrap().is_none() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(value.lock().unwrap().as_deref(), Some("hotline-drop"));
        let here = Arc::new(std::sync::Mutex::new(None::<String>));
        Dropper::inline().free(Marks(Arc::clone(&here)));
        let me = std::thread::current().name().map(str::to_owned);
        assert_eq!(here.lock().unwrap().clone(), Some(me.unwrap_or_default()));
    }
}
