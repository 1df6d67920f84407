//! Host benchmarks: instantiation from the compile cache, the agent → host →
//! tool round trip, and the host's overhead per agent step with the model's
//! time excluded (an in-memory model that answers at once).
//!
//! Run with `cargo bench -p weft-tests --bench host`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use weft_host::Host;
use weft_tests::{all_tools, answer, app, artifacts, cycling, scripted, tool_calls};

fn bench_instantiation(c: &mut Criterion) {
    let dir = weft_tests::cache_dir();
    let config = app(
        artifacts::TOOL_LOOP_AGENT,
        &[
            artifacts::TEXT_TOOLS,
            artifacts::KV_MEMORY,
            artifacts::HTTP_FETCH,
        ],
        all_tools(),
    );
    // Compile once into the cache, then measure a host that loads from it.
    drop(
        Host::builder()
            .cache_dir(Some(dir.path().into()))
            .model(scripted([]))
            .build(&config)
            .unwrap(),
    );
    let mut group = c.benchmark_group("load");
    group.sample_size(20);
    group.bench_function("host build from disk cache (agent + 3 tools)", |b| {
        b.iter(|| {
            Host::builder()
                .cache_dir(Some(dir.path().into()))
                .model(scripted([]))
                .build(&config)
                .unwrap()
        })
    });
    group.finish();

    let host = Host::builder()
        .cache_dir(Some(dir.path().into()))
        .model(scripted([]))
        .build(&config)
        .unwrap();
    let mut group = c.benchmark_group("instantiate");
    // One iteration: a new session, four fresh stores and instances (the
    // agent and all three tools: `instantiate` forces the tools a run would
    // create on first use), then tearing all four down when the returned
    // session is dropped, which criterion times too. Pool slots are reused
    // from one iteration to the next, as in a long-running host.
    group.bench_function("agent + 3 tools (cold, pooling)", |b| {
        b.iter(|| {
            let mut session = host.session();
            session.instantiate().unwrap();
            session
        })
    });
    group.finish();
}

fn bench_tool_round_trip(c: &mut Criterion) {
    let config = app(artifacts::BENCH_AGENT, &[artifacts::HOSTILE], all_tools());
    let host = Host::builder()
        .cache_dir(None)
        .model(scripted([]))
        .build(&config)
        .unwrap();
    let mut group = c.benchmark_group("tool call");
    group.bench_function("agent -> host -> tool -> agent (echo, validated)", |b| {
        b.iter_custom(|iters| {
            let mut session = host.session();
            session.instantiate().unwrap();
            let input = serde_json::json!({"tool": "echo", "args": {"value": 1}, "times": iters})
                .to_string();
            let empty =
                serde_json::json!({"tool": "echo", "args": {"value": 1}, "times": 0}).to_string();
            // Subtract the cost of one run with no calls.
            let mut base = host.session();
            base.instantiate().unwrap();
            let t0 = Instant::now();
            base.run(&empty).unwrap();
            let baseline = t0.elapsed();
            let t = Instant::now();
            session.run(&input).unwrap();
            t.elapsed().saturating_sub(baseline)
        })
    });
    group.finish();
}

fn bench_agent_step(c: &mut Criterion) {
    let config = app(
        artifacts::TOOL_LOOP_AGENT,
        &[artifacts::TEXT_TOOLS],
        all_tools(),
    );
    let one_step = Host::builder()
        .cache_dir(None)
        .model(cycling([answer("ok")]))
        .build(&config)
        .unwrap();
    let two_steps = Host::builder()
        .cache_dir(None)
        .model(cycling([
            tool_calls(&[("c", "count_words", r#"{"text": "a b c"}"#)]),
            answer("ok"),
        ]))
        .build(&config)
        .unwrap();
    let mut group = c.benchmark_group("agent run (model time excluded)");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("1 step: instantiate + prompt + model call + answer", |b| {
        b.iter(|| one_step.run("hello").unwrap())
    });
    group.bench_function("2 steps with one tool call", |b| {
        b.iter(|| two_steps.run("hello").unwrap())
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_instantiation,
    bench_tool_round_trip,
    bench_agent_step
);
criterion_main!(benches);
