//! Cost: cache buckets, peak/off-peak, context tiers, CNY, unknown models.

use std::time::SystemTime;
use weft_model::Usage;

use weft_meter::calendar::utc;
use weft_meter::{CostError, Currency, PriceCatalog};

/// A Monday in November 2026, at `hour:minute` UTC.
fn monday(hour: u32, minute: u32) -> SystemTime {
    utc(2026, 11, 2, hour, minute).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        ..Usage::default()
    }
}

#[test]
fn cache_read_bucket_is_billed_at_the_cache_price() {
    let c = PriceCatalog::bundled();
    let u = Usage {
        input_tokens: 1_000_000,
        output_tokens: 100_000,
        cache_read_tokens: 400_000,
        reasoning_tokens: 30_000,
        ..Usage::default()
    };
    let cost = c.cost(&u, "gpt-5.5", monday(12, 0)).unwrap();
    // 600k misses × $5 + 400k hits × $0.50 + 100k out × $30.
    assert!(close(cost.usd, 3.0 + 0.2 + 3.0), "{cost:?}");
    assert_eq!(cost.currency, Currency::Usd);
    assert_eq!(cost.breakdown.input.tokens, 600_000);
    assert_eq!(cost.breakdown.cache_read.tokens, 400_000);
    assert!(close(cost.breakdown.cache_read.amount, 0.2));
    assert_eq!(cost.breakdown.reasoning_tokens, 30_000);
    assert_eq!(cost.breakdown.catalog_version, c.version);
}

#[test]
fn cache_write_bucket_is_billed_at_the_write_price() {
    let c = PriceCatalog::bundled();
    let u = Usage {
        input_tokens: 100_000,
        output_tokens: 0,
        cache_read_tokens: 20_000,
        cache_write_tokens: 50_000,
        ..Usage::default()
    };
    let cost = c.cost(&u, "claude-opus-4-5", monday(12, 0)).unwrap();
    // 30k misses × $5 + 20k reads × $0.50 + 50k writes × $6.25.
    assert!(close(cost.usd, 0.15 + 0.01 + 0.3125), "{cost:?}");
    assert_eq!(cost.breakdown.model, "claude-opus-4.5");
    // Without a listed cache price, cache tokens cost the input price.
    let cost = c.cost(&u, "glm-5.3", monday(12, 0)).unwrap();
    assert!(close(
        cost.breakdown.cache_write.rate_per_mtok,
        cost.breakdown.input.rate_per_mtok
    ));
}

#[test]
fn buckets_larger_than_the_prompt_are_clamped() {
    let c = PriceCatalog::bundled();
    let u = Usage {
        input_tokens: 100,
        cache_read_tokens: 80,
        cache_write_tokens: 80,
        ..Usage::default()
    };
    let cost = c.cost(&u, "claude-haiku-4.5", monday(12, 0)).unwrap();
    assert_eq!(cost.breakdown.cache_read.tokens, 80);
    assert_eq!(cost.breakdown.cache_write.tokens, 20);
    assert_eq!(cost.breakdown.input.tokens, 0);
}

#[test]
fn deepseek_off_peak_is_half_price() {
    let c = PriceCatalog::bundled();
    let u = usage(1_000_000, 1_000_000);
    let peak = c.cost(&u, "deepseek-flash", monday(3, 0)).unwrap();
    assert!(!peak.breakdown.off_peak);
    assert!(close(peak.usd, 0.30 + 1.20));
    // Between the two peak windows, after them, and before them.
    for t in [monday(4, 30), monday(10, 0), monday(0, 59), monday(23, 0)] {
        let off = c.cost(&u, "deepseek-flash", t).unwrap();
        assert!(off.breakdown.off_peak, "{t:?}");
        assert!(close(off.usd, 0.75), "{t:?}");
    }
    assert!(
        !c.cost(&u, "deepseek-flash", monday(6, 0))
            .unwrap()
            .breakdown
            .off_peak
    );
    // Weekends are off-peak all day.
    let saturday = utc(2026, 11, 7, 3, 0).unwrap();
    assert!(
        c.cost(&u, "deepseek-v4-pro", saturday)
            .unwrap()
            .breakdown
            .off_peak
    );
    // Before the schedule took effect: list price around the clock.
    let before = utc(2026, 8, 10, 12, 0).unwrap();
    assert!(
        !c.cost(&u, "deepseek-flash", before)
            .unwrap()
            .breakdown
            .off_peak
    );
    // Off-peak discounts cache hits too.
    let hits = Usage {
        input_tokens: 1_000_000,
        cache_read_tokens: 1_000_000,
        ..Usage::default()
    };
    let off = c.cost(&hits, "deepseek-flash", monday(12, 0)).unwrap();
    assert!(close(off.usd, 0.003));
}

#[test]
fn schedules_are_data_with_wrapping_windows_and_a_weekday_offset() {
    let text = r#"
        version = "t1"
        as_of = "2026-01-01"
        [schedules.night]
        peak_utc = ["22:00-02:00"]
        peak_days = ["mon"]
        weekday_utc_offset_minutes = 480
        off_peak_multiplier = 0.25
        [models.m]
        provider = "p"
        schedule = "night"
        input = 4.0
        output = 4.0
    "#;
    let c = PriceCatalog::from_toml_str(text).unwrap();
    let u = usage(1_000_000, 0);
    // Sunday 23:00 UTC is Monday 07:00 at UTC+8: a peak day, peak window.
    let sunday_late = utc(2026, 11, 1, 23, 0).unwrap();
    assert!(close(c.cost(&u, "m", sunday_late).unwrap().usd, 4.0));
    // Monday 01:00 UTC: still in the wrapped window, still Monday at UTC+8.
    assert!(close(c.cost(&u, "m", monday(1, 0)).unwrap().usd, 4.0));
    // Monday 23:00 UTC is Tuesday at UTC+8: off-peak.
    assert!(close(c.cost(&u, "m", monday(23, 0)).unwrap().usd, 1.0));
    // Monday 12:00 UTC: outside the window.
    assert!(close(c.cost(&u, "m", monday(12, 0)).unwrap().usd, 1.0));
}

#[test]
fn context_length_tiers() {
    let c = PriceCatalog::bundled();
    let t = monday(12, 0);
    let q = |input| c.cost(&usage(input, 1_000_000), "qwen3.8-max", t).unwrap();
    let small = q(20_000);
    assert_eq!(small.breakdown.tier, 0);
    assert!(close(small.breakdown.output.rate_per_mtok, 6.0));
    let mid = q(50_000);
    assert_eq!(mid.breakdown.tier, 1);
    assert!(close(mid.breakdown.input.rate_per_mtok, 3.2));
    let large = q(200_000);
    assert_eq!(large.breakdown.tier, 2);
    assert_eq!(large.breakdown.tier_max_input_tokens, None);
    assert!(!large.breakdown.beyond_tiers);
    // A tier's bound is inclusive.
    assert_eq!(q(32_768).breakdown.tier, 0);

    let g = c
        .cost(&usage(250_000, 0), "gemini-3.1-pro-preview", t)
        .unwrap();
    assert!(close(g.usd, 0.25 * 4.0));
    let g = c.cost(&usage(200_000, 0), "gemini-3.1-pro", t).unwrap();
    assert!(close(g.usd, 0.2 * 2.0));

    // Longer than every tier: the last tier, flagged.
    let m = c.cost(&usage(600_000, 0), "MiniMax-M3", t).unwrap();
    assert!(m.breakdown.beyond_tiers);
    assert!(close(m.usd, 0.6 * 0.30));
}

#[test]
fn cny_prices_convert_at_the_catalog_rate() {
    let c = PriceCatalog::bundled();
    let t = monday(12, 0);
    let cost = c
        .cost(&usage(10_000, 1_000), "doubao-seed-code", t)
        .unwrap();
    assert_eq!(cost.currency, Currency::Cny);
    assert!(close(cost.amount, 0.012 + 0.008), "{cost:?}");
    assert!(close(cost.usd, 0.02 / c.cny_per_usd));
    // The rate is configurable.
    let c = c.with_cny_per_usd(8.0);
    let cost = c.cost(&usage(100_000, 0), "doubao-seed-code", t).unwrap();
    assert_eq!(cost.breakdown.tier, 1);
    assert!(close(cost.amount, 0.14));
    assert!(close(cost.usd, 0.14 / 8.0));
}

#[test]
fn unknown_models_are_an_error_and_free_ones_cost_nothing() {
    let c = PriceCatalog::bundled();
    let e = c
        .cost(&usage(1, 1), "mystery-model", monday(12, 0))
        .unwrap_err();
    assert!(matches!(e, CostError::UnknownModel { ref model, .. } if model == "mystery-model"));
    assert!(e.to_string().contains(&c.version));
    let free = c
        .cost(&usage(1_000_000, 1_000_000), "glm-4.7-flash", monday(12, 0))
        .unwrap();
    assert_eq!(free.usd, 0.0);
}

#[test]
fn catalogs_merge() {
    let mut c = PriceCatalog::bundled();
    let extra = PriceCatalog::from_toml_str(
        "version='local-1'\nas_of='2026-11-01'\n[models.my-model]\nprovider='vllm'\ninput=0.1\noutput=0.2\naliases=['mine']\n",
    )
    .unwrap();
    c.merge(extra).unwrap();
    assert!(c.version.ends_with("+local-1"));
    let cost = c
        .cost(&usage(1_000_000, 1_000_000), "MINE", monday(12, 0))
        .unwrap();
    assert!(close(cost.usd, 0.3));
    assert!(c.get("gpt-5.5").is_some());
}
