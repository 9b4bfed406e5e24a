use neurosplit::data::{Dataset, Task};
fn cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok().and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok()).unwrap_or(0.0) / 1e3
}
/// Candidate: copy 16 whole rows into an L1 buffer (sequential 2 KB reads), then transpose out of it.
fn gather_rows_first(data: &Dataset, idx: &[usize], xt: &mut [f32], buf: &mut Vec<f32>) {
    const B: usize = 16;
    let (b, d) = (idx.len(), data.d);
    buf.resize(B * d, 0.0);
    let mut start = 0;
    while start < b {
        let n = B.min(b - start);
        for k in 0..n {
            buf[k * d..(k + 1) * d].copy_from_slice(data.row(idx[start + k]));
        }
        for j in 0..d {
            let out = &mut xt[j * b + start..j * b + start + n];
            for (k, o) in out.iter_mut().enumerate() {
                *o = buf[k * d + j];
            }
        }
        start += n;
    }
}
fn main() {
    let (n, d, b) = (50_000usize, 512usize, 500usize);
    let x: Vec<f32> = (0..n * d).map(|i| (i % 977) as f32).collect();
    let y: Vec<u32> = (0..n as u32).map(|i| i % 10).collect();
    let data = Dataset::new(x, y, d, Task::Multiclass(10)).unwrap();
    let mut s = 7u64;
    let order: Vec<usize> = (0..n).map(|_| { s ^= s << 13; s ^= s >> 7; s ^= s << 17; (s % n as u64) as usize }).collect();
    let (mut xt, mut yt, mut buf) = (vec![0f32; b * d], vec![0u32; b], Vec::new());
    let mut xt2 = vec![0f32; b * d];
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for r in 0..9 {
        let c = cpu();
        for st in (0..n - b).step_by(b).take(100) { data.gather_t(order[st..st + b].iter().copied(), &mut xt, &mut yt); }
        ta.push((cpu() - c) / 100.0);
        let c = cpu();
        for st in (0..n - b).step_by(b).take(100) { gather_rows_first(&data, &order[st..st + b], &mut xt2, &mut buf); }
        tb.push((cpu() - c) / 100.0);
        if r == 0 { assert_eq!(xt, xt2); }
    }
    ta.sort_by(f64::total_cmp); tb.sort_by(f64::total_cmp);
    println!("gather_t (16x16 tiles): min {:.0} med {:.0} us/batch; rows first: min {:.0} med {:.0} us/batch", ta[0], ta[4], tb[0], tb[4]);
}
