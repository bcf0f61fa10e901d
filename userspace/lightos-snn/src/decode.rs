//! Decoders: from output spikes to a class.

/// Rate (count) decoding: the output with the most spikes; ties go to the lower index. `None`
/// when no output spiked.
pub fn by_count(counts: &[u32]) -> Option<usize> {
    let best = *counts.iter().max()?;
    (best > 0)
        .then(|| counts.iter().position(|&c| c == best))
        .flatten()
}

/// First-spike decoding: the output that spiked earliest; ties go to the lower index. `None` when
/// no output spiked. `first_spike[i]` is output `i`'s first spike step, `None` if it never spiked.
pub fn by_first_spike(first_spike: &[Option<u32>]) -> Option<usize> {
    first_spike
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.map(|t| (t, i)))
        .min()
        .map(|(_, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_and_first_spike_decoders_break_ties_by_index() {
        assert_eq!(by_count(&[1, 4, 4, 0]), Some(1));
        assert_eq!(by_count(&[0, 0]), None);
        assert_eq!(by_count(&[]), None);
        assert_eq!(by_first_spike(&[None, Some(5), Some(3), Some(3)]), Some(2));
        assert_eq!(by_first_spike(&[None, None]), None);
    }
}
