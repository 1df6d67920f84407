//! Choosing the next token from the logits.
//!
//! The steps, in order: repetition penalty on tokens already seen, then
//! (unless greedy) temperature, top-k, top-p and min-p filtering, then a
//! draw from the remaining distribution with a seeded generator, so a run
//! with the same seed repeats exactly.

use serde::{Deserialize, Serialize};

/// How to pick tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// Softmax temperature; `0` means greedy (always the most likely token).
    pub temperature: f32,
    /// Keep only the `k` most likely tokens (`0`: no limit).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches `p` (`1`: off).
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` × the top token's probability
    /// (`0`: off).
    pub min_p: f32,
    /// Divide positive logits (multiply negative ones) of tokens already in
    /// the context by this (`1`: off), as in the CTRL paper and llama.cpp.
    pub repetition_penalty: f32,
    /// How many of the most recent tokens the penalty looks at.
    pub penalty_window: usize,
    /// Seed of the random generator.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            penalty_window: 64,
            seed: 0,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding.
    pub fn greedy() -> Self {
        Self::default()
    }

    /// Whether this always picks the most likely token.
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }
}

/// SplitMix64: small, fast and fully determined by its seed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Picks tokens under one [`SamplingParams`], keeping its random state
/// between calls.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: Rng,
}

impl Sampler {
    /// A sampler seeded from `params.seed`.
    pub fn new(params: SamplingParams) -> Self {
        let rng = Rng(params.seed);
        Self { params, rng }
    }

    /// The parameters.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Picks the next token from `logits`, given the tokens seen so far.
    /// `allowed` (when given) restricts the choice, for constrained output;
    /// `None` is returned only when it allows nothing.
    pub fn sample(
        &mut self,
        logits: &mut [f32],
        history: &[u32],
        allowed: Option<&mut dyn FnMut(u32) -> bool>,
    ) -> Option<u32> {
        self.penalise_repeats(logits, history);
        let mut allowed = allowed;
        if self.params.is_greedy() {
            // Usually the most likely token is allowed: no need to rank the
            // whole vocabulary.
            let best = argmax(logits)?;
            if allowed.as_mut().is_none_or(|allowed| allowed(best)) {
                return Some(best);
            }
        }
        let mut candidates = ranked(logits);
        if let Some(allowed) = allowed {
            candidates = first_allowed(candidates, logits, allowed, self.params.is_greedy());
        }
        if candidates.is_empty() {
            return None;
        }
        if self.params.is_greedy() {
            return Some(candidates[0]);
        }
        let probabilities = self.filtered_probabilities(logits, &mut candidates);
        let draw = self.rng.next_f64();
        let mut cumulative = 0.0;
        for (&token, &p) in candidates.iter().zip(&probabilities) {
            cumulative += p;
            if draw < cumulative {
                return Some(token);
            }
        }
        candidates.last().copied()
    }

    fn penalise_repeats(&self, logits: &mut [f32], history: &[u32]) {
        let penalty = self.params.repetition_penalty;
        if penalty == 1.0 || penalty <= 0.0 {
            return;
        }
        let start = history.len().saturating_sub(self.params.penalty_window);
        let mut seen = history[start..].to_vec();
        seen.sort_unstable();
        seen.dedup();
        for token in seen {
            if let Some(logit) = logits.get_mut(token as usize) {
                *logit = if *logit > 0.0 {
                    *logit / penalty
                } else {
                    *logit * penalty
                };
            }
        }
    }

    /// Applies temperature, top-k, top-p and min-p to the ranked candidates
    /// (most likely first) and returns their normalised probabilities.
    fn filtered_probabilities(&self, logits: &[f32], candidates: &mut Vec<u32>) -> Vec<f64> {
        let p = &self.params;
        if p.top_k > 0 {
            candidates.truncate(p.top_k);
        }
        let t = p.temperature as f64;
        let top = logits[candidates[0] as usize] as f64 / t;
        let mut probabilities: Vec<f64> = candidates
            .iter()
            .map(|&c| (logits[c as usize] as f64 / t - top).exp())
            .collect();
        normalise(&mut probabilities);
        if p.min_p > 0.0 {
            let floor = probabilities[0] * p.min_p as f64;
            let keep = probabilities
                .iter()
                .take_while(|&&q| q >= floor)
                .count()
                .max(1);
            candidates.truncate(keep);
            probabilities.truncate(keep);
            normalise(&mut probabilities);
        }
        if p.top_p < 1.0 {
            let mut mass = 0.0;
            let mut keep = 0;
            for &q in &probabilities {
                mass += q;
                keep += 1;
                if mass >= p.top_p as f64 {
                    break;
                }
            }
            candidates.truncate(keep);
            probabilities.truncate(keep);
            normalise(&mut probabilities);
        }
        probabilities
    }
}

fn normalise(values: &mut [f64]) {
    let sum: f64 = values.iter().sum();
    if sum > 0.0 {
        values.iter_mut().for_each(|v| *v /= sum);
    }
}

/// Token ids ordered from most to least likely (NaN logits last).
/// The most likely token: the first of equal maxima, never a NaN; `None`
/// only when there is no finite or infinite logit at all.
pub fn argmax(logits: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in logits.iter().enumerate() {
        if !v.is_nan() && best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i as u32)
}

fn ranked(logits: &[f32]) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..logits.len() as u32).collect();
    ids.sort_unstable_by(|&a, &b| {
        let (x, y) = (logits[a as usize], logits[b as usize]);
        y.partial_cmp(&x)
            .unwrap_or_else(|| x.is_nan().cmp(&y.is_nan()))
    });
    ids
}

/// Keeps the candidates `allowed` accepts, in rank order. Greedy decoding
/// needs only the first; sampling checks candidates until the probability
/// mass left out is negligible.
fn first_allowed(
    candidates: Vec<u32>,
    logits: &[f32],
    allowed: &mut dyn FnMut(u32) -> bool,
    greedy: bool,
) -> Vec<u32> {
    let mut kept = Vec::new();
    let best = candidates
        .first()
        .map(|&c| logits[c as usize])
        .unwrap_or(0.0);
    for c in candidates {
        // 30 nats below the best token is a probability under 1e-13 of it.
        if !kept.is_empty() && (greedy || best - logits[c as usize] > 30.0) {
            break;
        }
        if allowed(c) {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_most_likely_token() {
        let mut s = Sampler::new(SamplingParams::greedy());
        let mut logits = vec![0.1, 2.0, -1.0, 1.9];
        assert_eq!(s.sample(&mut logits, &[], None), Some(1));
    }

    #[test]
    fn repetition_penalty_can_change_the_greedy_choice() {
        let params = SamplingParams {
            repetition_penalty: 1.5,
            ..SamplingParams::greedy()
        };
        let mut s = Sampler::new(params);
        let mut logits = vec![0.1, 2.0, -1.0, 1.9];
        assert_eq!(s.sample(&mut logits, &[1], None), Some(3));
    }

    #[test]
    fn the_same_seed_repeats_and_another_differs() {
        let draw = |seed| {
            let params = SamplingParams {
                temperature: 1.0,
                seed,
                ..Default::default()
            };
            let mut s = Sampler::new(params);
            (0..64)
                .map(|_| s.sample(&mut [0.0; 16], &[], None).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn top_k_one_is_greedy() {
        let params = SamplingParams {
            temperature: 5.0,
            top_k: 1,
            seed: 3,
            ..Default::default()
        };
        let mut s = Sampler::new(params);
        for _ in 0..50 {
            assert_eq!(s.sample(&mut [0.0, 0.5, 0.4], &[], None), Some(1));
        }
    }

    #[test]
    fn top_p_and_min_p_cut_the_tail() {
        // Probabilities ≈ [0.62, 0.23, 0.08, 0.03, ...]: top-p 0.8 keeps two.
        let logits = [4.0, 3.0, 2.0, 1.0, 0.0];
        for params in [
            SamplingParams {
                temperature: 1.0,
                top_p: 0.8,
                ..Default::default()
            },
            SamplingParams {
                temperature: 1.0,
                min_p: 0.3,
                ..Default::default()
            },
        ] {
            let mut s = Sampler::new(params.clone());
            for _ in 0..200 {
                let t = s.sample(&mut logits.to_vec(), &[], None).unwrap();
                assert!(t <= 1, "{params:?} drew {t}");
            }
        }
    }

    #[test]
    fn a_constraint_is_respected_and_can_refuse_everything() {
        let mut s = Sampler::new(SamplingParams::greedy());
        let mut only_even = |t: u32| t.is_multiple_of(2);
        assert_eq!(
            s.sample(&mut [0.0, 9.0, 1.0], &[], Some(&mut only_even)),
            Some(2)
        );
        let mut nothing = |_: u32| false;
        assert_eq!(s.sample(&mut [0.0, 9.0], &[], Some(&mut nothing)), None);
    }
}
