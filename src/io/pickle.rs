//! A restricted unpickler for PyTorch state dicts, and the pickle of a state dict for the writer.
//!
//! Reading is a small pickle VM that never calls anything: a global is only ever a name, and only the names a
//! state dict uses are accepted (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
//! `torch._utils._rebuild_parameter`, and the storage types `torch.FloatStorage`, `HalfStorage`,
//! `BFloat16Storage`, `DoubleStorage`); `REDUCE` on them builds a dict or a tensor *description* (storage, offset,
//! shape, strides), checked against its storage before anything is read. Every other global is refused by name
//! with a sentence saying what the file is (a whole pickled module, an integer tensor, ...).
//!
//! Memory is bounded by the input: a string opcode's length is checked against the bytes that remain before
//! anything is taken, every value the VM builds or copies (the memo copies values, it does not share them) is
//! charged to a budget proportional to the pickle's length, and containers nest at most [`MAX_DEPTH`] deep.

use std::collections::HashMap;

use safetensors::Dtype;

/// How deep containers may nest; a state dict needs 4 (dict, tensor arguments, storage id), its `_metadata` 3.
pub(crate) const MAX_DEPTH: usize = 32;

/// The most dimensions a tensor may have.
pub(crate) const MAX_DIMS: usize = 16;

/// Value units the VM may build or copy per byte of pickle (a value unit is one value, or 8 bytes of a string).
const BUDGET_PER_BYTE: usize = 16;

/// A global the VM accepts: only ever a name, never called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Global {
    OrderedDict,
    RebuildTensor,
    RebuildParameter,
    Storage(Dtype),
}

/// A storage of the archive: the record `data/<key>`, holding `numel` elements of `dtype`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StorageRef {
    pub key: String,
    pub dtype: Dtype,
    pub numel: usize,
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage, already checked to lie inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TensorRef {
    pub storage: StorageRef,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
}

impl TensorRef {
    /// Number of elements (checked against the storage when the tensor was built, so it cannot overflow).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A tuple, list or dict (keys and values alternating), with its nesting depth and cost.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Seq {
    pub items: Vec<Value>,
    depth: usize,
    cost: usize,
}

impl Seq {
    fn new(items: Vec<Value>) -> Result<Self, String> {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        if depth > MAX_DEPTH {
            return Err(format!(
                "the pickle nests containers more than {MAX_DEPTH} deep; a state dict needs 4"
            ));
        }
        let cost = 1 + items.iter().map(Value::cost).sum::<usize>();
        Ok(Seq { items, depth, cost })
    }

    fn push(&mut self, v: Value) -> Result<(), String> {
        let depth = self.depth.max(1 + v.depth());
        if depth > MAX_DEPTH {
            return Err(format!(
                "the pickle nests containers more than {MAX_DEPTH} deep; a state dict needs 4"
            ));
        }
        self.depth = depth;
        self.cost += v.cost();
        self.items.push(v);
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Seq),
    List(Seq),
    Dict(Seq),
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorRef),
}

impl Value {
    fn depth(&self) -> usize {
        match self {
            Value::Tuple(s) | Value::List(s) | Value::Dict(s) => s.depth,
            _ => 0,
        }
    }

    /// Budget units this value holds: 1 per value, 1 per 8 bytes of text.
    fn cost(&self) -> usize {
        match self {
            Value::Str(s) => 1 + s.len() / 8,
            Value::Bytes(b) => 1 + b.len() / 8,
            Value::Tuple(s) | Value::List(s) | Value::Dict(s) => s.cost,
            Value::Storage(s) => 1 + s.key.len() / 8,
            Value::Tensor(t) => 2 + t.shape.len() + t.storage.key.len() / 8,
            _ => 1,
        }
    }

    /// What the value is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "a tuple",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
            Value::Global(_) => "a class or function",
            Value::Storage(_) => "a storage",
            Value::Tensor(_) => "a tensor",
        }
    }
}

/// The element size of a storage dtype the reader accepts.
pub(crate) fn elem_size(dtype: Dtype) -> usize {
    match dtype {
        Dtype::F64 => 8,
        Dtype::F32 => 4,
        _ => 2,
    }
}

const SAVE_STATE_DICT: &str = "save the weights alone with torch.save(model.state_dict(), path)";

/// The global `module.name`, if a state dict may use it; else a sentence saying what the file holds.
fn global(module: &str, name: &str) -> Result<Global, String> {
    match (module, name) {
        ("collections", "OrderedDict") => return Ok(Global::OrderedDict),
        ("torch._utils", "_rebuild_tensor_v2") => return Ok(Global::RebuildTensor),
        ("torch._utils", "_rebuild_parameter") => return Ok(Global::RebuildParameter),
        ("torch", "FloatStorage") => return Ok(Global::Storage(Dtype::F32)),
        ("torch", "HalfStorage") => return Ok(Global::Storage(Dtype::F16)),
        ("torch", "BFloat16Storage") => return Ok(Global::Storage(Dtype::BF16)),
        ("torch", "DoubleStorage") => return Ok(Global::Storage(Dtype::F64)),
        _ => {}
    }
    let shown: String = format!("{module}.{name}").chars().take(120).collect();
    if module == "torch" && name.ends_with("Storage") {
        let what = match name {
            "LongStorage" => "int64",
            "IntStorage" => "int32",
            "ShortStorage" => "int16",
            "CharStorage" => "int8",
            "ByteStorage" => "uint8",
            "BoolStorage" => "bool",
            n if n.starts_with("Complex") => "complex",
            n if n.starts_with("Q") => "quantized",
            _ => "a dtype neurosplit does not read",
        };
        return Err(format!(
            "the file holds a {what} tensor ({shown}); neurosplit reads float32, float16, bfloat16 and float64 \
             tensors only (an integer buffer such as a BatchNorm's num_batches_tracked is not an MLP parameter; \
             convert weights with tensor.float())"
        ));
    }
    if module == "__main__"
        || module.starts_with("torch.nn.")
        || module.starts_with("torch.fx")
        || (name.starts_with(|c: char| c.is_ascii_uppercase()) && !module.starts_with("torch"))
    {
        return Err(format!(
            "the file holds a whole pickled module or object ({shown}), not a state dict: reading it would mean \
             running code from the file, which neurosplit never does; {SAVE_STATE_DICT}"
        ));
    }
    if module == "torch._utils" && name.starts_with("_rebuild_") {
        return Err(format!(
            "the file holds a kind of tensor neurosplit does not read ({shown}: sparse, quantized, meta or a \
             tensor subclass); neurosplit reads dense CPU float tensors: save tensor.detach().to_dense().float()"
        ));
    }
    Err(format!(
        "the file's pickle names {shown}, which a state dict does not use; neurosplit reads only tensors, storages \
         and dicts and never runs code from a file: {SAVE_STATE_DICT}"
    ))
}

/// Runs the pickle `data`; `record_len(key)` is the byte length of the storage record `data/<key>`, if present.
pub(crate) fn unpickle(
    data: &[u8],
    record_len: &dyn Fn(&str) -> Option<usize>,
) -> Result<Value, String> {
    let mut vm = Vm {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        budget: BUDGET_PER_BYTE
            .saturating_mul(data.len())
            .saturating_add(1024),
        record_len,
    };
    vm.run()
        .map_err(|e| format!("data.pkl: {e} (at byte {})", vm.pos))
}

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    budget: usize,
    record_len: &'a dyn Fn(&str) -> Option<usize>,
}

impl Vm<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.data.len() - self.pos < n {
            return Err(format!(
                "truncated: {n} bytes claimed, {} left",
                self.data.len() - self.pos
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn le<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len_u64(&mut self) -> Result<usize, String> {
        usize::try_from(u64::from_le_bytes(self.le()?)).map_err(|_| "a length above usize".into())
    }

    /// A text line ending in `\n` (for `GLOBAL`), at most 256 bytes.
    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .take(257)
            .position(|&b| b == b'\n')
            .ok_or("a GLOBAL name without an end of line within 256 bytes")?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }

    fn charge(&mut self, units: usize) -> Result<(), String> {
        self.budget = self.budget.checked_sub(units).ok_or_else(|| {
            "the pickle builds or copies more values than its length can justify (a memo or nesting bomb?)"
                .to_string()
        })?;
        Ok(())
    }

    fn push(&mut self, v: Value) -> Result<(), String> {
        self.charge(v.cost())?;
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, String> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("a value was popped across a MARK".into());
        }
        self.stack.pop().ok_or_else(|| "the stack is empty".into())
    }

    fn top(&mut self) -> Result<&mut Value, String> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("no value above the last MARK".into());
        }
        self.stack
            .last_mut()
            .ok_or_else(|| "the stack is empty".into())
    }

    /// The values above the last mark, removing the mark.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let m = self.marks.pop().ok_or("no MARK to pop to")?;
        Ok(self.stack.split_off(m))
    }

    fn string(&mut self, n: usize) -> Result<(), String> {
        let s =
            String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "a string that is not UTF-8")?;
        self.push(Value::Str(s))
    }

    fn bytes(&mut self, n: usize) -> Result<(), String> {
        let b = self.take(n)?.to_vec();
        self.push(Value::Bytes(b))
    }

    fn memo_put(&mut self, key: u32) -> Result<(), String> {
        let v = self.top()?.clone();
        self.charge(v.cost())?;
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<(), String> {
        let v = self
            .memo
            .get(&key)
            .ok_or_else(|| format!("memo entry {key} is read before it is written"))?
            .clone();
        self.push(v)
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), String> {
        if !items.len().is_multiple_of(2) {
            return Err("SETITEMS with an odd number of values".into());
        }
        self.charge(1)?;
        let Value::Dict(d) = self.top()? else {
            return Err("SETITEM(S) on something that is not a dict".into());
        };
        for v in items {
            d.push(v)?;
        }
        Ok(())
    }

    fn run(&mut self) -> Result<Value, String> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let p = self.u8()?;
                    if p > 5 {
                        return Err(format!("pickle protocol {p} is not one Python writes"));
                    }
                }
                0x95 => {
                    self.le::<8>()?; // FRAME: a length hint
                }
                b'.' => {
                    let v = self.pop()?;
                    return Ok(v);
                }
                b'(' => {
                    self.charge(1)?;
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v)?;
                }
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = i32::from_le_bytes(self.le()?);
                    self.push(Value::Int(v.into()))?
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v.into()))?
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.le()?);
                    self.push(Value::Int(v.into()))?
                }
                0x8a => {
                    let n = usize::from(self.u8()?);
                    if n > 8 {
                        return Err(format!("an integer of {n} bytes (at most 8 are read)"));
                    }
                    let b = self.take(n)?;
                    let mut a = if b.last().is_some_and(|&x| x >= 0x80) {
                        [0xff; 8]
                    } else {
                        [0; 8]
                    };
                    a[..n].copy_from_slice(b);
                    self.push(Value::Int(i64::from_le_bytes(a)))?
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.le()?);
                    self.push(Value::Float(v))?
                }
                b'X' => {
                    let n = u32::from_le_bytes(self.le()?) as usize;
                    self.string(n)?
                }
                0x8c | b'U' => {
                    let n = usize::from(self.u8()?);
                    self.string(n)?
                }
                0x8d => {
                    let n = self.len_u64()?;
                    self.string(n)?
                }
                b'T' => {
                    let n = u32::from_le_bytes(self.le()?) as usize;
                    self.string(n)?
                }
                b'C' => {
                    let n = usize::from(self.u8()?);
                    self.bytes(n)?
                }
                b'B' => {
                    let n = u32::from_le_bytes(self.le()?) as usize;
                    self.bytes(n)?
                }
                0x8e => {
                    let n = self.len_u64()?;
                    self.bytes(n)?
                }
                b')' => self.push(Value::Tuple(Seq::new(Vec::new())?))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(Seq::new(items)?))?
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Value::Tuple(Seq::new(items)?))?
                }
                b']' => self.push(Value::List(Seq::new(Vec::new())?))?,
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(Seq::new(items)?))?
                }
                b'a' | b'e' => {
                    let items = if op == b'a' {
                        vec![self.pop()?]
                    } else {
                        self.pop_mark()?
                    };
                    self.charge(1)?;
                    let Value::List(l) = self.top()? else {
                        return Err("APPEND(S) on something that is not a list".into());
                    };
                    for v in items {
                        l.push(v)?;
                    }
                }
                b'}' => self.push(Value::Dict(Seq::new(Vec::new())?))?,
                b'd' => {
                    let items = self.pop_mark()?;
                    if !items.len().is_multiple_of(2) {
                        return Err("DICT with an odd number of values".into());
                    }
                    self.push(Value::Dict(Seq::new(items)?))?
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let g = global(&module, &name)?;
                    self.push(Value::Global(g))?
                }
                0x93 => {
                    let (Value::Str(name), Value::Str(module)) = (self.pop()?, self.pop()?) else {
                        return Err("STACK_GLOBAL needs two strings".into());
                    };
                    let g = global(&module, &name)?;
                    self.push(Value::Global(g))?
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    let v = self.reduce(f, args)?;
                    self.push(v)?
                }
                b'b' => {
                    let state = self.pop()?;
                    match (self.top()?, state) {
                        // An OrderedDict's own attributes (a state dict's `_metadata`): not needed.
                        (Value::Dict(_), Value::Dict(_) | Value::None) => {}
                        (obj, state) => {
                            return Err(format!(
                                "BUILD sets {} on {}; a state dict does not do that",
                                state.kind(),
                                obj.kind()
                            ))
                        }
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let s = self.storage(pid)?;
                    self.push(Value::Storage(s))?
                }
                b'q' => {
                    let k = self.u8()?;
                    self.memo_put(k.into())?
                }
                b'r' => {
                    let k = u32::from_le_bytes(self.le()?);
                    self.memo_put(k)?
                }
                0x94 => {
                    let k = u32::try_from(self.memo.len()).map_err(|_| "memo too large")?;
                    self.memo_put(k)?
                }
                b'h' => {
                    let k = self.u8()?;
                    self.memo_get(k.into())?
                }
                b'j' => {
                    let k = u32::from_le_bytes(self.le()?);
                    self.memo_get(k)?
                }
                0x81 | 0x92 | b'i' | b'o' => {
                    return Err(format!(
                        "the pickle creates an object (opcode 0x{op:02x}); a state dict holds only dicts and \
                         tensors: {SAVE_STATE_DICT}"
                    ))
                }
                b'P' => {
                    return Err(
                        "a text persistent id (protocol 0); save with a current torch.save".into(),
                    )
                }
                other => {
                    return Err(format!(
                        "pickle opcode 0x{other:02x} is not one a PyTorch state dict uses"
                    ))
                }
            }
        }
    }

    /// `('storage', torch.FloatStorage, key, location, numel)` -> the storage, checked against its record.
    fn storage(&self, pid: Value) -> Result<StorageRef, String> {
        let bad = || {
            "a persistent id that is not ('storage', <storage type>, key, location, size)"
                .to_string()
        };
        let Value::Tuple(t) = pid else {
            return Err(bad());
        };
        let [Value::Str(tag), Value::Global(Global::Storage(dtype)), Value::Str(key), Value::Str(_), Value::Int(numel)] =
            t.items.as_slice()
        else {
            return Err(bad());
        };
        if tag != "storage" {
            return Err(bad());
        }
        let numel =
            usize::try_from(*numel).map_err(|_| format!("storage {key:?} has {numel} elements"))?;
        let bytes = numel
            .checked_mul(elem_size(*dtype))
            .ok_or_else(|| format!("storage {key:?} claims {numel} elements"))?;
        match (self.record_len)(key) {
            None => Err(format!(
                "storage {key:?} has no record data/{key} in the archive"
            )),
            Some(len) if len != bytes => Err(format!(
                "storage {key:?} claims {numel} elements of {dtype} ({bytes} bytes) but its record holds {len} bytes"
            )),
            Some(_) => Ok(StorageRef {
                key: key.clone(),
                dtype: *dtype,
                numel,
            }),
        }
    }

    fn reduce(&mut self, f: Value, args: Value) -> Result<Value, String> {
        let Value::Tuple(args) = args else {
            return Err(format!("REDUCE with {} as arguments", args.kind()));
        };
        let mut args = args.items;
        match f {
            Value::Global(Global::OrderedDict) if args.is_empty() => {
                Ok(Value::Dict(Seq::new(Vec::new())?))
            }
            Value::Global(Global::RebuildTensor) if (6..=7).contains(&args.len()) => {
                args.truncate(4);
                let (Some(stride), Some(size), Some(offset), Some(storage)) =
                    (args.pop(), args.pop(), args.pop(), args.pop())
                else {
                    return Err("_rebuild_tensor_v2 with too few arguments".into());
                };
                tensor(storage, offset, size, stride).map(Value::Tensor)
            }
            Value::Global(Global::RebuildParameter) if (2..=3).contains(&args.len()) => {
                match args.swap_remove(0) {
                    t @ Value::Tensor(_) => Ok(t),
                    other => Err(format!("_rebuild_parameter of {}", other.kind())),
                }
            }
            Value::Global(g) => Err(format!(
                "{g:?} is called with {} arguments, not as a state dict calls it",
                args.len()
            )),
            other => Err(format!("REDUCE calls {}", other.kind())),
        }
    }
}

fn ints(v: Value, what: &str) -> Result<Vec<usize>, String> {
    let Value::Tuple(t) = v else {
        return Err(format!("the tensor's {what} is {}, not a tuple", v.kind()));
    };
    if t.items.len() > MAX_DIMS {
        return Err(format!(
            "a tensor with {} dimensions (at most {MAX_DIMS} are read)",
            t.items.len()
        ));
    }
    t.items
        .iter()
        .map(|x| match x {
            Value::Int(i) => usize::try_from(*i).map_err(|_| format!("a tensor {what} of {i}")),
            other => Err(format!("a tensor {what} holding {}", other.kind())),
        })
        .collect()
}

/// A tensor view, checked to lie inside its storage and to have no more elements than it.
fn tensor(storage: Value, offset: Value, size: Value, stride: Value) -> Result<TensorRef, String> {
    let Value::Storage(storage) = storage else {
        return Err(format!(
            "_rebuild_tensor_v2 of {}, not a storage",
            storage.kind()
        ));
    };
    let Value::Int(offset) = offset else {
        return Err(format!("a tensor offset that is {}", offset.kind()));
    };
    let offset = usize::try_from(offset).map_err(|_| format!("a tensor offset of {offset}"))?;
    let shape = ints(size, "size")?;
    let strides = ints(stride, "stride")?;
    if shape.len() != strides.len() {
        return Err(format!(
            "a tensor of size {shape:?} with strides {strides:?}"
        ));
    }
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &s| a.checked_mul(s))
        .ok_or_else(|| format!("a tensor of size {shape:?} (too many elements)"))?;
    let key = &storage.key;
    if numel > 0 {
        // The last element the view reads; it must lie inside the storage.
        let last = shape.iter().zip(&strides).try_fold(offset, |a, (&n, &s)| {
            (n - 1).checked_mul(s).and_then(|d| a.checked_add(d))
        });
        match last {
            Some(l) if l < storage.numel => {}
            _ => {
                return Err(format!(
                    "a tensor of size {shape:?}, strides {strides:?} at offset {offset} reads past the end of \
                     storage {key:?} ({} elements)",
                    storage.numel
                ))
            }
        }
    }
    if numel > storage.numel {
        return Err(format!(
            "a tensor of size {shape:?} has more elements than its storage {key:?} ({}): a broadcast view; save \
             tensor.contiguous() instead",
            storage.numel
        ));
    }
    // A dimension of size 1 never steps, whatever its stride claims; zero it so that no walk over the view
    // adds a huge stride (every other stride is below the storage's length, checked above).
    let strides = shape
        .iter()
        .zip(strides)
        .map(|(&n, s)| if n <= 1 { 0 } else { s })
        .collect();
    Ok(TensorRef {
        storage,
        offset,
        shape,
        strides,
    })
}

/// The pickle of an `OrderedDict` of tensors, each the whole of storage `i` (its index), contiguous, as
/// `torch.save` writes it (protocol 2).
pub(crate) fn state_dict_pickle(entries: &[(String, Dtype, Vec<usize>)]) -> Vec<u8> {
    let mut p = vec![0x80, 2];
    let global = |p: &mut Vec<u8>, module: &str, name: &str| {
        p.push(b'c');
        p.extend(format!("{module}\n{name}\n").as_bytes());
    };
    let string = |p: &mut Vec<u8>, s: &str| {
        p.push(b'X');
        p.extend((s.len() as u32).to_le_bytes());
        p.extend(s.as_bytes());
    };
    let int = |p: &mut Vec<u8>, v: usize| {
        if v < 256 {
            p.extend([b'K', v as u8]);
        } else if v < 1 << 31 {
            p.push(b'J');
            p.extend((v as i32).to_le_bytes());
        } else {
            p.extend([0x8a, 8]);
            p.extend((v as i64).to_le_bytes());
        }
    };
    global(&mut p, "collections", "OrderedDict");
    p.extend(b")R");
    if !entries.is_empty() {
        p.push(b'(');
    }
    for (i, (name, dtype, shape)) in entries.iter().enumerate() {
        string(&mut p, name);
        global(&mut p, "torch._utils", "_rebuild_tensor_v2");
        p.extend(b"((");
        string(&mut p, "storage");
        let storage = match dtype {
            Dtype::F64 => "DoubleStorage",
            Dtype::F16 => "HalfStorage",
            Dtype::BF16 => "BFloat16Storage",
            _ => "FloatStorage",
        };
        global(&mut p, "torch", storage);
        string(&mut p, &i.to_string());
        string(&mut p, "cpu");
        int(&mut p, shape.iter().product());
        p.extend(b"tQ");
        int(&mut p, 0);
        p.push(b'(');
        for &s in shape {
            int(&mut p, s);
        }
        p.extend(b"t(");
        let mut stride = 1;
        let mut strides = vec![0; shape.len()];
        for (d, &s) in shape.iter().enumerate().rev() {
            strides[d] = stride;
            stride *= s;
        }
        for s in strides {
            int(&mut p, s);
        }
        p.push(b't');
        p.push(0x89);
        global(&mut p, "collections", "OrderedDict");
        p.extend(b")RtR");
    }
    if !entries.is_empty() {
        p.push(b'u');
    }
    p.push(b'.');
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_len(_: &str) -> Option<usize> {
        Some(24)
    }

    #[test]
    fn the_writer_pickle_reads_back() {
        let p = state_dict_pickle(&[("0.weight".into(), Dtype::F32, vec![2, 3])]);
        let Value::Dict(d) = unpickle(&p, &any_len).unwrap() else {
            panic!("not a dict")
        };
        assert_eq!(d.items[0], Value::Str("0.weight".into()));
        let Value::Tensor(t) = &d.items[1] else {
            panic!("not a tensor")
        };
        assert_eq!(
            (t.shape.as_slice(), t.strides.as_slice()),
            (&[2, 3][..], &[3, 1][..])
        );
        assert_eq!(t.storage.numel, 6);
    }

    #[test]
    fn long_strings_are_checked_before_allocating() {
        // BINUNICODE8 claiming 2^60 bytes.
        let mut p = vec![0x80, 4, 0x8d];
        p.extend((1u64 << 60).to_le_bytes());
        let e = unpickle(&p, &any_len).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
    }

    #[test]
    fn memo_copies_are_charged() {
        // A list appended to a copy of itself, over and over: exponential without the budget.
        let mut p = vec![0x80, 2, b']', b'q', 0];
        for _ in 0..200 {
            p.extend([b'h', 0, b'h', 0, b'a', b'q', 0, b'0']);
        }
        p.extend([b'h', 0, b'.']);
        assert!(unpickle(&p, &any_len).is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let mut p = vec![0x80, 2, b'N'];
        p.extend(std::iter::repeat_n(0x85, 100));
        p.push(b'.');
        let e = unpickle(&p, &any_len).unwrap_err();
        assert!(e.contains("deep"), "{e}");
    }

    fn tuple(v: &[i64]) -> Value {
        Value::Tuple(Seq::new(v.iter().map(|&i| Value::Int(i)).collect()).unwrap())
    }

    #[test]
    fn views_are_checked_against_their_storage() {
        let s = Value::Storage(StorageRef {
            key: "0".into(),
            dtype: Dtype::F32,
            numel: 6,
        });
        let view = |off: i64, size: &[i64], stride: &[i64]| {
            tensor(s.clone(), Value::Int(off), tuple(size), tuple(stride))
        };
        assert!(view(0, &[2, 3], &[3, 1]).is_ok());
        assert!(view(1, &[2, 3], &[3, 1])
            .unwrap_err()
            .contains("past the end"));
        assert!(view(0, &[3, 2], &[1, 3]).is_ok()); // transposed
        assert!(view(0, &[4, 3], &[0, 1]).unwrap_err().contains("broadcast"));
        assert!(view(-1, &[1], &[1]).is_err());
        assert!(view(0, &[i64::MAX, i64::MAX], &[1, 1]).is_err());
        // A size-1 dimension never steps: its claimed stride is dropped, not added.
        let t = view(0, &[1, 6], &[i64::MAX, 1]).unwrap();
        assert_eq!(t.strides, [0, 1]);
    }

    #[test]
    fn only_state_dict_globals_are_accepted() {
        for (m, n, want) in [
            ("__main__", "Net", "whole pickled module"),
            ("torch.nn.modules.linear", "Linear", "whole pickled module"),
            ("torch", "LongStorage", "int64"),
            ("os", "system", "never runs code"),
            ("torch._utils", "_rebuild_qtensor", "quantized"),
        ] {
            let e = global(m, n).unwrap_err();
            assert!(e.contains(want), "{m}.{n}: {e}");
        }
    }
}
