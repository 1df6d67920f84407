//! Resilience: retries, Retry-After, fallback by error kind, cooldowns,
//! streaming fallback only before the first event.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use support::*;
use weft_model::{Model, ModelError, StreamEvent, collect_stream};
use weft_router::{
    BreakerState, ChainEntry, CooldownPolicy, ErrorKind, ManualClock, Resilient, ResilientBuilder,
    RetryPolicy,
};

fn retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: ms(100),
        max_delay: ms(1000),
        multiplier: 2.0,
        jitter: 0.0,
        max_retry_after: Duration::from_secs(10),
    }
}

fn builder(clock: &ManualClock) -> ResilientBuilder {
    Resilient::builder()
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock.clone()))
        .retry(retry(3))
        .seed(7)
}

#[test]
fn retries_back_off_exponentially_then_succeed() {
    let clock = clock();
    let a = Fake::new("a", "m").failing_times(2, overloaded()).arc();
    let r = builder(&clock).model("a", a.clone()).build().unwrap();
    let answer = block_on(r.chat(&user("hi"))).unwrap();
    assert_eq!(answer.model, "m");
    assert_eq!(a.calls(), 3);
    assert_eq!(clock.sleeps(), vec![ms(100), ms(200)]);
}

#[test]
fn backoff_is_capped_and_jittered_within_bounds() {
    let p = RetryPolicy {
        jitter: 0.5,
        ..retry(10)
    };
    assert_eq!(p.backoff(1, 0.0), ms(100));
    assert_eq!(p.backoff(3, 0.0), ms(400));
    assert_eq!(p.backoff(9, 0.0), ms(1000));
    assert_eq!(
        p.backoff(1, 0.999_999),
        Duration::from_secs_f64(0.1 * 0.5000005)
    );
    let clock = clock();
    let a = Fake::new("a", "m").failing_times(4, overloaded()).arc();
    let r = builder(&clock)
        .retry(RetryPolicy {
            max_attempts: 5,
            ..p
        })
        .model("a", a)
        .build()
        .unwrap();
    block_on(r.chat(&user("hi"))).unwrap();
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 4);
    for (i, s) in sleeps.iter().enumerate() {
        let full = [100, 200, 400, 800][i];
        assert!(*s <= ms(full) && *s >= ms(full / 2), "{i}: {s:?}");
    }
}

#[test]
fn retry_after_is_honoured() {
    let clock = clock();
    let a = Fake::new("a", "m").fail(rate_limited(Some(1500))).arc();
    let r = builder(&clock).model("a", a.clone()).build().unwrap();
    block_on(r.chat(&user("hi"))).unwrap();
    assert_eq!(a.calls(), 2);
    // At least the Retry-After, even though the backoff would be 100 ms.
    assert_eq!(clock.sleeps(), vec![ms(1500)]);
}

#[test]
fn a_retry_after_above_the_cap_cools_the_provider_down_and_falls_back() {
    let clock = clock();
    let start = clock.now_for_test();
    let a = Fake::new("a", "m").fail(rate_limited(Some(60_000))).arc();
    let b = Fake::new("b", "m2").arc();
    let r = builder(&clock)
        .model("a", a.clone())
        .model("b", b.clone())
        .build()
        .unwrap();
    let answer = block_on(r.chat(&user("hi"))).unwrap();
    assert_eq!(answer.model, "m2");
    assert!(clock.sleeps().is_empty(), "did not wait 60 s");
    assert_eq!(a.calls(), 1);
    assert_eq!(
        r.breakers().state("a", start),
        BreakerState::Open {
            until: start + Duration::from_secs(60)
        }
    );
    // While it cools down, `a` is skipped.
    block_on(r.chat(&user("again"))).unwrap();
    assert_eq!(a.calls(), 1);
    assert_eq!(b.calls(), 2);
}

#[test]
fn non_retryable_errors_are_never_retried() {
    for error in [
        ModelError::Auth("bad key".into()),
        ModelError::InsufficientBalance("1113".into()),
        ModelError::ContextTooLong("too long".into()),
        ModelError::ContentFiltered("no".into()),
        ModelError::Provider {
            status: 400,
            body: "bad".into(),
        },
    ] {
        let clock = clock();
        let a = Fake::new("a", "m").fail(error.clone()).arc();
        let r = builder(&clock).model("a", a.clone()).build().unwrap();
        let got = block_on(r.chat(&user("hi"))).unwrap_err();
        assert_eq!(got, error);
        assert_eq!(a.calls(), 1, "{error}");
        assert!(clock.sleeps().is_empty());
    }
}

#[test]
fn fallback_follows_the_error_kind() {
    let clock = clock();
    // Auth falls back by default...
    let a = Fake::new("a", "m")
        .fail(ModelError::Auth("wrong region".into()))
        .arc();
    let b = Fake::new("b", "m2").arc();
    let r = builder(&clock)
        .model("a", a.clone())
        .model("b", b.clone())
        .build()
        .unwrap();
    assert_eq!(block_on(r.chat(&user("hi"))).unwrap().model, "m2");

    // ...content filtering does not...
    let a = Fake::new("a", "m")
        .fail(ModelError::ContentFiltered("no".into()))
        .arc();
    let b = Fake::new("b", "m2").arc();
    let r = builder(&clock)
        .model("a", a.clone())
        .model("b", b.clone())
        .build()
        .unwrap();
    assert!(matches!(
        block_on(r.chat(&user("hi"))),
        Err(ModelError::ContentFiltered(_))
    ));
    assert_eq!(b.calls(), 0);

    // ...and the set is configurable.
    let a = Fake::new("a", "m")
        .fail(ModelError::InsufficientBalance("1113".into()))
        .arc();
    let b = Fake::new("b", "m2").arc();
    let r = builder(&clock)
        .fallback_on([ErrorKind::RateLimited])
        .model("a", a.clone())
        .model("b", b.clone())
        .build()
        .unwrap();
    assert!(matches!(
        block_on(r.chat(&user("hi"))),
        Err(ModelError::InsufficientBalance(_))
    ));
    assert_eq!(b.calls(), 0);

    // Retries are exhausted before falling back, and the last error of the
    // chain is returned when every model fails.
    let a = Fake::new("a", "m").failing_times(3, overloaded()).arc();
    let b = Fake::new("b", "m2")
        .failing_times(3, ModelError::Timeout("slow".into()))
        .arc();
    let r = builder(&clock)
        .model("a", a.clone())
        .model("b", b.clone())
        .build()
        .unwrap();
    assert!(matches!(
        block_on(r.chat(&user("hi"))),
        Err(ModelError::Timeout(_))
    ));
    assert_eq!((a.calls(), b.calls()), (3, 3));
}

#[test]
fn context_too_long_skips_models_that_are_not_larger() {
    let clock = clock();
    let small = Fake::new("a", "small")
        .context(8_000)
        .fail(ModelError::ContextTooLong("9000 > 8192".into()))
        .arc();
    let same = Fake::new("b", "same").context(8_000).arc();
    let big = Fake::new("c", "big").context(128_000).arc();
    let r = builder(&clock)
        .model("small", small)
        .model("same", same.clone())
        .model("big", big.clone())
        .build()
        .unwrap();
    assert_eq!(block_on(r.chat(&user("long"))).unwrap().model, "big");
    assert_eq!(same.calls(), 0);
}

#[test]
fn cooldown_opens_after_consecutive_failures_and_closes_after_the_period() {
    let clock = clock();
    let a = Fake::new("flaky", "m").failing_times(3, overloaded()).arc();
    let b = Fake::new("steady", "m2").arc();
    let r = builder(&clock)
        .retry(retry(1))
        .cooldown(CooldownPolicy {
            failure_threshold: 2,
            cooldown: Duration::from_secs(30),
        })
        .model("a", a.clone())
        .model("b", b.clone())
        .build()
        .unwrap();
    let breakers = r.breakers().clone();
    block_on(r.chat(&user("1"))).unwrap();
    assert_eq!(
        breakers.state("flaky", clock.now_for_test()),
        BreakerState::Closed {
            consecutive_failures: 1
        }
    );
    block_on(r.chat(&user("2"))).unwrap();
    assert!(matches!(
        breakers.state("flaky", clock.now_for_test()),
        BreakerState::Open { .. }
    ));
    // Open: `a` is not called.
    block_on(r.chat(&user("3"))).unwrap();
    assert_eq!(a.calls(), 2);
    assert_eq!(b.calls(), 3);
    // After the cooldown: half-open, one trial; it fails and reopens at once.
    clock.advance(Duration::from_secs(31));
    assert_eq!(
        breakers.state("flaky", clock.now_for_test()),
        BreakerState::HalfOpen
    );
    block_on(r.chat(&user("4"))).unwrap();
    assert_eq!(a.calls(), 3);
    assert!(matches!(
        breakers.state("flaky", clock.now_for_test()),
        BreakerState::Open { .. }
    ));
    // Next period: the trial succeeds and the breaker closes.
    clock.advance(Duration::from_secs(31));
    assert_eq!(block_on(r.chat(&user("5"))).unwrap().model, "m");
    assert_eq!(
        breakers.state("flaky", clock.now_for_test()),
        BreakerState::Closed {
            consecutive_failures: 0
        }
    );
}

#[test]
fn breakers_are_per_provider() {
    let clock = clock();
    // Two models of one provider share its breaker.
    let a1 = Fake::new("p", "m1").failing_times(5, overloaded()).arc();
    let a2 = Fake::new("p", "m2").arc();
    let b = Fake::new("q", "m3").arc();
    let r = builder(&clock)
        .retry(retry(2))
        .cooldown(CooldownPolicy {
            failure_threshold: 2,
            cooldown: Duration::from_secs(30),
        })
        .model("a1", a1.clone())
        .model("a2", a2.clone())
        .entry(ChainEntry {
            provider: Some("q".into()),
            ..ChainEntry::new("b", b.clone())
        })
        .build()
        .unwrap();
    assert_eq!(block_on(r.chat(&user("hi"))).unwrap().model, "m3");
    assert_eq!(a1.calls(), 2);
    assert_eq!(a2.calls(), 0, "same provider, cooling down");
}

#[test]
fn cooling_down_everywhere_is_a_clear_error() {
    let clock = clock();
    let a = Fake::new("a", "m").failing_times(1, overloaded()).arc();
    let r = builder(&clock)
        .retry(retry(1))
        .cooldown(CooldownPolicy {
            failure_threshold: 1,
            cooldown: Duration::from_secs(30),
        })
        .model("a", a)
        .build()
        .unwrap();
    assert!(block_on(r.chat(&user("1"))).is_err());
    let e = block_on(r.chat(&user("2"))).unwrap_err();
    assert!(
        matches!(&e, ModelError::Overloaded(m) if m.contains("cooling down")),
        "{e}"
    );
}

#[test]
fn streams_retry_and_fall_back_before_the_first_event() {
    let clock = clock();
    // Fails at open, then fails as its first item: both before any event.
    let a = Fake::new("a", "m")
        .fail(overloaded())
        .then(Step::Items(vec![Err(ModelError::Transport(
            "reset".into(),
        ))]))
        .then(Step::Items(vec![]))
        .arc();
    let b = Fake::new("b", "m2").arc();
    let r = builder(&clock)
        .model("a", a.clone())
        .model("b", b.clone())
        .build()
        .unwrap();
    let stream = block_on(r.chat_stream(&user("hi"))).unwrap();
    let answer = block_on(collect_stream(stream)).unwrap();
    assert_eq!(answer.model, "m2");
    assert_eq!(a.calls(), 3);
    assert_eq!(clock.sleeps(), vec![ms(100), ms(200)]);
}

#[test]
fn streams_do_not_fall_back_after_the_first_event() {
    let clock = clock();
    let a = Fake::new("a", "m")
        .then(Step::Items(vec![
            Ok(StreamEvent::TextDelta("Hel".into())),
            Err(ModelError::Transport("connection reset".into())),
        ]))
        .arc();
    let b = Fake::new("b", "m2").arc();
    let r = builder(&clock)
        .model("a", a.clone())
        .model("b", b.clone())
        .build()
        .unwrap();
    let mut stream = block_on(r.chat_stream(&user("hi"))).unwrap();
    let first = block_on(stream.next()).unwrap().unwrap();
    assert_eq!(first, StreamEvent::TextDelta("Hel".into()));
    let second = block_on(stream.next()).unwrap();
    assert!(matches!(second, Err(ModelError::Transport(_))));
    assert!(block_on(stream.next()).is_none());
    assert_eq!(b.calls(), 0);
    assert_eq!(a.calls(), 1);
}

#[test]
fn a_stream_that_ends_without_done_ends_with_an_error() {
    let clock = clock();
    let a = Fake::new("a", "m")
        .then(Step::Items(vec![Ok(StreamEvent::TextDelta("x".into()))]))
        .arc();
    let r = builder(&clock).model("a", a).build().unwrap();
    let stream = block_on(r.chat_stream(&user("hi"))).unwrap();
    let items: Vec<_> = block_on(stream.collect::<Vec<_>>());
    assert_eq!(items.len(), 2);
    assert!(matches!(items[1], Err(ModelError::Transport(_))));
}

/// `ManualClock::now` through the `Clock` trait.
trait NowForTest {
    fn now_for_test(&self) -> std::time::SystemTime;
}

impl NowForTest for ManualClock {
    fn now_for_test(&self) -> std::time::SystemTime {
        weft_router::Clock::now(self)
    }
}
