//! Every file parser fed mutated bytes of valid files (the stable-toolchain side of `fuzz/`): no panic, and no
//! more memory than a small multiple of the input, measured by a counting allocator in this test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use proptest::prelude::*;

use neurosplit::data::idx::parse_idx;
use neurosplit::data::npy;
use neurosplit::data::Task;
use neurosplit::expand::Assignment;
use neurosplit::experiment::spec::{Spec, BUILTIN};
use neurosplit::experiment::store;
use neurosplit::io::{from_bytes, to_bytes, ModelMeta};
use neurosplit::nn::Mlp;
use neurosplit::rng::stream;

/// Counts the bytes this thread holds and their peak (each test case runs on one thread).
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc(size: usize) {
    // `try_with`: the thread-local may be gone while a thread shuts down; then nothing is counted.
    let _ = LIVE.try_with(|l| {
        let now = l.get() + size;
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

fn note_free(size: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(size)));
}

// SAFETY: every method forwards to the system allocator with the caller's layout and pointer unchanged; the
// counting touches only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as it is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        // SAFETY: `ptr` came from this allocator (so from `System`) with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc(new_size);
        note_free(layout.size());
        // SAFETY: `ptr` came from `System` with `layout`; the caller guarantees `new_size` is valid.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns the most bytes this thread held above what it held before.
fn peak_bytes(f: impl FnOnce()) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    f();
    PEAK.with(Cell::get) - base
}

/// The memory a parser may take for `len` input bytes: a fixed allowance for tables and messages, plus a
/// small multiple of the input (f64 data read as f32, a copy per stage).
fn bound(len: usize) -> usize {
    (1 << 20) + 32 * len
}

/// One change to a file.
#[derive(Clone, Debug)]
enum Mutation {
    /// Overwrite one byte.
    Set(usize, u8),
    /// Overwrite 8 bytes with an extreme little- or big-endian integer (lengths, offsets, counts).
    Int(usize, u64, bool),
    /// Insert bytes.
    Insert(usize, Vec<u8>),
    /// Cut the file here.
    Truncate(usize),
    /// Replace a run of ASCII digits (a size in a text header) with a huge number.
    Digits(usize, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let extreme = prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(u32::MAX as u64),
        Just(1u64 << 31),
        Just(1_000_000_000),
        Just(100_000_000_000),
        any::<u64>(),
    ];
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        2 => (any::<usize>(), extreme.clone(), any::<bool>()).prop_map(|(i, v, be)| Mutation::Int(i, v, be)),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        2 => (any::<usize>(), extreme).prop_map(|(i, v)| Mutation::Digits(i, v)),
    ]
}

fn apply(mut bytes: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if bytes.is_empty() {
            break;
        }
        let at = |i: usize| i % bytes.len();
        match m {
            Mutation::Set(i, b) => {
                let i = at(*i);
                bytes[i] = *b;
            }
            Mutation::Int(i, v, be) => {
                let i = at(*i);
                let v = if *be {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                };
                for (k, b) in v.iter().enumerate() {
                    if let Some(x) = bytes.get_mut(i + k) {
                        *x = *b;
                    }
                }
            }
            Mutation::Insert(i, v) => {
                let i = at(*i);
                bytes.splice(i..i, v.iter().copied());
            }
            Mutation::Truncate(i) => bytes.truncate(at(*i)),
            Mutation::Digits(i, v) => {
                // The first run of digits at or after i.
                let Some(start) = (at(*i)..bytes.len()).find(|&k| bytes[k].is_ascii_digit()) else {
                    continue;
                };
                let end = (start..bytes.len())
                    .find(|&k| !bytes[k].is_ascii_digit())
                    .unwrap_or(bytes.len());
                bytes.splice(start..end, v.to_string().bytes());
            }
        }
    }
    bytes
}

fn muts() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..5)
}

/// Checks that `parse` neither panics nor takes more than [`bound`] on every mutation of `valid`.
fn check(valid: &[u8], muts: &[Mutation], parse: impl FnOnce(&[u8])) -> Result<(), TestCaseError> {
    let bytes = apply(valid.to_vec(), muts);
    let len = bytes.len().max(valid.len());
    let peak = peak_bytes(|| parse(&bytes));
    prop_assert!(
        peak <= bound(len),
        "{peak} bytes for a {}-byte input (bound {})",
        bytes.len(),
        bound(len)
    );
    Ok(())
}

fn model_file() -> Vec<u8> {
    let model = Mlp::new(&[12, 4, 1], Task::Binary, &mut stream(0, &[]))
        .unwrap()
        .with_layernorm();
    let meta = ModelMeta {
        alpha: Some(2),
        expanded_layer: Some(0),
        groups: Some(vec![vec![0, 1, 2], vec![3, 4, 5]]),
        ..ModelMeta::default()
    };
    to_bytes(&model, &meta).unwrap()
}

fn npy_file(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((h.len() as u16).to_le_bytes());
    b.extend(h.as_bytes());
    b.extend(data);
    b
}

fn features() -> Vec<u8> {
    let x: Vec<u8> = (0..24)
        .flat_map(|i| (i as f32 / 7.0).to_le_bytes())
        .collect();
    npy_file("<f4", "(6, 4)", &x)
}

fn labels() -> Vec<u8> {
    let y: Vec<u8> = (0..6i64).flat_map(|i| (i % 3).to_le_bytes()).collect();
    npy_file("<i8", "(6,)", &y)
}

fn npz_file() -> Vec<u8> {
    let mut w = ndarray_npy::NpzWriter::new(std::io::Cursor::new(Vec::new()));
    let x = ndarray::Array2::from_shape_fn((6, 4), |(i, j)| (i * 4 + j) as f32 / 7.0);
    let y = ndarray::Array1::from_shape_fn(6, |i| (i % 3) as i64);
    w.add_array("x_train", &x).unwrap();
    w.add_array("y_train", &y).unwrap();
    w.add_array("x_test", &x).unwrap();
    w.add_array("y_test", &y).unwrap();
    w.finish().unwrap().into_inner()
}

fn idx_file() -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, 3];
    for d in [3u32, 4, 4] {
        b.extend(d.to_be_bytes());
    }
    b.extend(0..48u8);
    b
}

fn results_file() -> Vec<u8> {
    let line = r#"{"spec":"tiny","fingerprint":"00000000000000aa","cell":"clauses=4 depth=2 neurons=4 pre=5","trial":0,"seed":1,"pre_test_acc":0.5,"pre_nnz":52,"models":[{"model":"dense","alpha":null,"hidden":4,"nnz":52,"test_acc_at_split":0.5,"test_acc":0.5,"train_acc":0.5,"curve":[[1,0.5]],"metrics":{"feature-capacity":1.0},"seconds":0.1}],"pre_seconds":0.1}"#;
    format!("{line}\n{}\n", line.replace("\"trial\":0", "\"trial\":1")).into_bytes()
}

fn assignment_file() -> Vec<u8> {
    br#"[{"alpha": 2, "neurons": [[[0, 2, 4], [1, 3, 5]], [[0, 1], [2, 3, 4, 5]]]}]"#.to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn model_files(m in muts()) {
        let valid = model_file();
        check(&valid, &m, |b| { let _ = from_bytes(b); })?;
    }

    #[test]
    fn npy_arrays(m in muts(), labels_file in any::<bool>()) {
        let valid = if labels_file { labels() } else { features() };
        check(&valid, &m, |b| {
            let _ = npy::parse_features(b, "x");
            let _ = npy::parse_labels(b, "y");
        })?;
    }

    #[test]
    fn npz_archives(m in muts()) {
        let valid = npz_file();
        let path = std::env::temp_dir().join(format!(
            "neurosplit-props-{}-{:?}.npz",
            std::process::id(),
            std::thread::current().id()
        ));
        check(&valid, &m, |b| {
            std::fs::write(&path, b).unwrap();
            let _ = npy::load_embeddings(&path);
        })?;
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn idx_arrays(m in muts(), compress in any::<bool>()) {
        let mut valid = idx_file();
        if compress {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&valid).unwrap();
            valid = e.finish().unwrap();
        }
        check(&valid, &m, |b| { let _ = parse_idx(b, "fuzz"); })?;
    }

    #[test]
    fn spec_toml(m in muts(), which in 0..BUILTIN.len()) {
        let valid = BUILTIN[which].1.as_bytes();
        check(valid, &m, |b| {
            if let Ok(text) = std::str::from_utf8(b) {
                if let Ok(spec) = Spec::parse(text, "mutated") {
                    let _ = neurosplit::experiment::runner::cells(&spec);
                }
            }
        })?;
    }

    #[test]
    fn results_jsonl(m in muts()) {
        let valid = results_file();
        check(&valid, &m, |b| { let _ = store::parse(b, Path::new("r.jsonl"), None); })?;
    }

    #[test]
    fn assignment_json(m in muts()) {
        let valid = assignment_file();
        check(&valid, &m, |b| {
            if let Ok(text) = std::str::from_utf8(b) {
                if let Ok(list) = Assignment::parse_json(text) {
                    let model = Mlp::new(&[6, 2, 1], Task::Binary, &mut stream(0, &[])).unwrap();
                    for a in &list {
                        let _ = a.validate(&model.layers()[0], a.alpha);
                    }
                }
            }
        })?;
    }
}

#[test]
fn the_unmutated_files_parse() {
    assert!(from_bytes(&model_file()).is_ok());
    assert_eq!(npy::parse_features(&features(), "x").unwrap().dim(), (6, 4));
    assert_eq!(npy::parse_labels(&labels(), "y").unwrap().len(), 6);
    let dir = std::env::temp_dir().join(format!("neurosplit-props-ok-{}.npz", std::process::id()));
    std::fs::write(&dir, npz_file()).unwrap();
    assert_eq!(npy::load_embeddings(&dir).unwrap().0.n, 6);
    std::fs::remove_file(&dir).ok();
    assert_eq!(parse_idx(&idx_file(), "i").unwrap().dims, vec![3, 4, 4]);
    assert_eq!(
        store::parse(&results_file(), Path::new("r"), None)
            .unwrap()
            .records
            .len(),
        2
    );
    assert_eq!(
        Assignment::parse_json(std::str::from_utf8(&assignment_file()).unwrap())
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn the_allocation_counter_sees_a_large_allocation() {
    // The bound can fail: a parser that allocated what a header announces would be caught.
    let peak = peak_bytes(|| {
        let v = vec![1u8; 8 << 20];
        std::hint::black_box(&v);
    });
    assert!(peak >= 8 << 20 && peak > bound(1000));
}
