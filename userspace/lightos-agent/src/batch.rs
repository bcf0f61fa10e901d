//! Dynamic batching's arithmetic: requests' tensors joined along their first dimension into one
//! run's feeds, and the run's outputs cut back into each request's share. Tensors are C-ordered,
//! so the first dimension is the outermost: joining is concatenating bytes.

/// One tensor: its dimensions and its bytes (C order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    /// The dimensions.
    pub dims: Vec<u64>,
    /// The elements' bytes.
    pub bytes: Vec<u8>,
}

/// The rows (first dimension) of a request whose inputs are `inputs`; all inputs must agree.
pub fn rows(inputs: &[Tensor]) -> Option<u64> {
    let first = inputs.first()?.dims.first().copied()?;
    inputs
        .iter()
        .all(|t| t.dims.first() == Some(&first))
        .then_some(first)
}

/// Whether two requests can share a run: the same dimensions but the first, input by input.
pub fn compatible(a: &[Tensor], b: &[Tensor]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.dims.len() == y.dims.len() && x.dims.get(1..) == y.dims.get(1..))
}

/// The requests' inputs joined along the first dimension, input by input (the requests
/// [`compatible`] with each other).
pub fn join(requests: &[&[Tensor]]) -> Vec<Tensor> {
    let Some(first) = requests.first() else {
        return Vec::new();
    };
    (0..first.len())
        .map(|i| {
            let mut dims = first[i].dims.clone();
            dims[0] = requests.iter().map(|r| r[i].dims[0]).sum();
            let mut bytes = Vec::with_capacity(requests.iter().map(|r| r[i].bytes.len()).sum());
            for r in requests {
                bytes.extend_from_slice(&r[i].bytes);
            }
            Tensor { dims, bytes }
        })
        .collect()
}

/// `outputs` of a joined run cut into one list per request of `rows` rows each; `None` when an
/// output's first dimension is not the rows' total (a model that does not batch along it).
pub fn split(outputs: &[Tensor], rows: &[u64]) -> Option<Vec<Vec<Tensor>>> {
    let total: u64 = rows.iter().sum();
    let mut per_request: Vec<Vec<Tensor>> = vec![Vec::with_capacity(outputs.len()); rows.len()];
    for out in outputs {
        if out.dims.first() != Some(&total) || total == 0 {
            return None;
        }
        let row_bytes = out.bytes.len() / total as usize;
        let mut at = 0;
        for (r, &n) in rows.iter().enumerate() {
            let mut dims = out.dims.clone();
            dims[0] = n;
            let len = row_bytes * n as usize;
            per_request[r].push(Tensor {
                dims,
                bytes: out.bytes[at..at + len].to_vec(),
            });
            at += len;
        }
    }
    Some(per_request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(dims: &[u64], first: u8) -> Tensor {
        let n: u64 = dims.iter().product();
        Tensor {
            dims: dims.to_vec(),
            bytes: (0..n as u8).map(|b| b + first).collect(),
        }
    }

    #[test]
    fn requests_join_and_split_along_the_first_dimension() {
        let a = vec![t(&[1, 3], 0), t(&[1, 2], 100)];
        let b = vec![t(&[2, 3], 10), t(&[2, 2], 110)];
        assert_eq!((rows(&a), rows(&b)), (Some(1), Some(2)));
        assert!(compatible(&a, &b));
        let joined = join(&[&a, &b]);
        assert_eq!(joined[0].dims, [3, 3]);
        assert_eq!(joined[0].bytes, [0, 1, 2, 10, 11, 12, 13, 14, 15]);
        assert_eq!(joined[1].bytes, [100, 101, 110, 111, 112, 113]);
        let back = split(&joined, &[1, 2]).unwrap();
        assert_eq!(back, vec![a, b]);
    }

    #[test]
    fn shapes_that_cannot_share_a_run_are_told_apart() {
        let a = vec![t(&[1, 3], 0)];
        assert!(!compatible(&a, &[t(&[1, 4], 0)]));
        assert!(!compatible(&a, &[t(&[1, 3, 1], 0)]));
        assert!(!compatible(&a, &[t(&[1, 3], 0), t(&[1, 3], 0)]));
        assert_eq!(rows(&[t(&[1, 3], 0), t(&[2, 3], 0)]), None);
        // An output whose first dimension is not the batch cannot be cut back.
        assert_eq!(split(&[t(&[1, 10], 0)], &[1, 2]), None);
    }
}
