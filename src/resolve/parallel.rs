//! Spreading pure work over the machine's cores, with results in input
//! order so the outcome never depends on the thread count.

/// How many threads to spread work over: the machine's cores.
pub fn worker_count() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `items` mapped by `map`, one contiguous share per core, in input order.
pub fn map_in_order<T: Send, R: Send>(items: Vec<T>, map: impl Fn(T) -> R + Sync) -> Vec<R> {
    let workers = worker_count();
    if workers < 2 || items.len() < 2 {
        return items.into_iter().map(map).collect();
    }
    let share = items.len().div_ceil(workers);
    let mut shares: Vec<Vec<T>> = Vec::with_capacity(workers);
    let mut rest = items.into_iter();
    loop {
        let part: Vec<T> = rest.by_ref().take(share).collect();
        if part.is_empty() {
            break;
        }
        shares.push(part);
    }
    let map = &map;
    std::thread::scope(|scope| {
        let running: Vec<_> = shares
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(map).collect::<Vec<R>>()))
            .collect();
        running
            .into_iter()
            .flat_map(|worker| worker.join().expect("a worker thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_input_order() {
        let items: Vec<u64> = (0..10_001).collect();
        let squares = map_in_order(items.clone(), |item| item * item);
        assert_eq!(
            squares,
            items.iter().map(|item| item * item).collect::<Vec<_>>()
        );
        assert!(map_in_order(Vec::<u8>::new(), |item| item).is_empty());
        assert_eq!(map_in_order(vec![7], |item| item + 1), vec![8]);
    }
}
