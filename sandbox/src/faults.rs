//! Fault injection: misbehaviours a test can switch on to see how clients cope.
//!
//! [`Faults`] is a cheap, cloneable handle shared by the server. The library API always has
//! it; the HTTP admin route (`POST /_sandbox/faults`) exists only when faults are enabled in
//! the configuration.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;

#[derive(Debug)]
struct FaultState {
    stream_epoch: watch::Sender<u64>,
    streams_stalled: watch::Sender<bool>,
    timeout_submissions: AtomicU32,
    failing_requests: Mutex<(u16, u32)>,
    submit_delay_ms: AtomicU64,
    closing_paused: AtomicBool,
    clock_ahead_secs: AtomicU64,
}

/// Handle to switch faults on and off.
#[derive(Debug, Clone)]
pub struct Faults(Arc<FaultState>);

impl Default for Faults {
    fn default() -> Self {
        Self(Arc::new(FaultState {
            stream_epoch: watch::Sender::new(0),
            streams_stalled: watch::Sender::new(false),
            timeout_submissions: AtomicU32::new(0),
            failing_requests: Mutex::new((0, 0)),
            submit_delay_ms: AtomicU64::new(0),
            closing_paused: AtomicBool::new(false),
            clock_ahead_secs: AtomicU64::new(0),
        }))
    }
}

/// A fault, as the admin route takes it in JSON: `{"fault": "fail_requests", "status": 503,
/// "count": 2}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// End every open stream now (clients see the connection close).
    CloseStreams,
    /// Stop (or resume) sending anything, keep-alives included, on open streams.
    StallStreams {
        /// True to stall, false to resume.
        stalled: bool,
    },
    /// Apply the next `count` submissions (`/transactions_async`: queue them), then answer 504
    /// instead of the result.
    TimeoutSubmissions {
        /// How many submissions.
        count: u32,
    },
    /// Answer the next `count` requests with `status` (429 or 503) without handling them.
    FailRequests {
        /// 429 or 503.
        status: u16,
        /// How many requests.
        count: u32,
    },
    /// Hold every submission this long before queueing it.
    DelaySubmissions {
        /// Delay in milliseconds.
        millis: u64,
    },
    /// Stop (or resume) closing ledgers.
    PauseClosing {
        /// True to pause, false to resume.
        paused: bool,
    },
    /// Move the network's clock forward: later ledgers close this many seconds further in the
    /// future, as if that much time had passed (time bounds expire). It never goes back.
    AdvanceClock {
        /// Seconds to add.
        seconds: u64,
    },
    /// Switch every fault off.
    Reset,
}

impl Faults {
    /// Applies a [`Fault`].
    pub fn apply(&self, fault: &Fault) {
        match *fault {
            Fault::CloseStreams => self.close_streams(),
            Fault::StallStreams { stalled } => self.stall_streams(stalled),
            Fault::TimeoutSubmissions { count } => self.timeout_next_submissions(count),
            Fault::FailRequests { status, count } => self.fail_next_requests(status, count),
            Fault::DelaySubmissions { millis } => {
                self.delay_submissions(Duration::from_millis(millis));
            }
            Fault::PauseClosing { paused } => self.pause_closing(paused),
            Fault::AdvanceClock { seconds } => self.advance_clock(Duration::from_secs(seconds)),
            Fault::Reset => self.reset(),
        }
    }

    /// Ends every stream open now; later streams are unaffected.
    pub fn close_streams(&self) {
        self.0.stream_epoch.send_modify(|epoch| *epoch += 1);
    }

    /// Stalls (or resumes) every stream: nothing, not even keep-alives, is sent while stalled.
    pub fn stall_streams(&self, stalled: bool) {
        self.0.streams_stalled.send_replace(stalled);
    }

    /// The next `count` submissions are applied, then answered with 504.
    pub fn timeout_next_submissions(&self, count: u32) {
        self.0.timeout_submissions.store(count, Ordering::SeqCst);
    }

    /// The next `count` requests (admin route excepted) are answered with `status`, which
    /// should be 429 or 503.
    pub fn fail_next_requests(&self, status: u16, count: u32) {
        *self.lock_failing() = (status, count);
    }

    /// Every submission waits `delay` before being queued.
    pub fn delay_submissions(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.0.submit_delay_ms.store(millis, Ordering::SeqCst);
    }

    /// Pauses (or resumes) ledger closing; submissions wait while paused.
    pub fn pause_closing(&self, paused: bool) {
        self.0.closing_paused.store(paused, Ordering::SeqCst);
    }

    /// Ledgers close `by` later than the wall clock from now on, as if that much time had
    /// passed; a test sees time bounds expire without waiting.
    pub fn advance_clock(&self, by: Duration) {
        self.0
            .clock_ahead_secs
            .fetch_add(by.as_secs(), Ordering::SeqCst);
    }

    /// How far the network's clock is ahead of the wall clock, in seconds.
    pub fn clock_ahead_secs(&self) -> u64 {
        self.0.clock_ahead_secs.load(Ordering::SeqCst)
    }

    /// Switches every fault off (the clock stays where it is: time never goes back).
    pub fn reset(&self) {
        self.stall_streams(false);
        self.timeout_next_submissions(0);
        self.fail_next_requests(0, 0);
        self.delay_submissions(Duration::ZERO);
        self.pause_closing(false);
    }

    fn lock_failing(&self) -> std::sync::MutexGuard<'_, (u16, u32)> {
        self.0
            .failing_requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The status to fail this request with, if a request failure is pending.
    pub(crate) fn take_request_failure(&self) -> Option<u16> {
        let mut failing = self.lock_failing();
        if failing.1 == 0 {
            return None;
        }
        failing.1 -= 1;
        Some(failing.0)
    }

    /// How many of the submissions set by [`Faults::timeout_next_submissions`] are still to be
    /// answered 504: a test checks that its client really met the fault.
    pub fn submission_timeouts_left(&self) -> u32 {
        self.0.timeout_submissions.load(Ordering::SeqCst)
    }

    /// True when this (already applied) submission must be answered with 504.
    pub(crate) fn take_submission_timeout(&self) -> bool {
        self.0
            .timeout_submissions
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// The submission delay.
    pub(crate) fn submission_delay(&self) -> Duration {
        Duration::from_millis(self.0.submit_delay_ms.load(Ordering::SeqCst))
    }

    /// True while ledger closing is paused.
    pub(crate) fn closing_paused(&self) -> bool {
        self.0.closing_paused.load(Ordering::SeqCst)
    }

    /// Changes when streams must close.
    pub(crate) fn stream_epoch(&self) -> watch::Receiver<u64> {
        self.0.stream_epoch.subscribe()
    }

    /// Changes when streams stall or resume.
    pub(crate) fn streams_stalled(&self) -> watch::Receiver<bool> {
        self.0.streams_stalled.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_run_out() {
        let faults = Faults::default();
        faults.apply(&Fault::FailRequests {
            status: 503,
            count: 2,
        });
        assert_eq!(faults.take_request_failure(), Some(503));
        assert_eq!(faults.take_request_failure(), Some(503));
        assert_eq!(faults.take_request_failure(), None);
        faults.timeout_next_submissions(1);
        assert!(faults.take_submission_timeout());
        assert!(!faults.take_submission_timeout());
        let parsed: Fault =
            serde_json::from_str(r#"{"fault":"pause_closing","paused":true}"#).unwrap();
        faults.apply(&parsed);
        assert!(faults.closing_paused());
        faults.apply(&Fault::Reset);
        assert!(!faults.closing_paused());
    }
}
