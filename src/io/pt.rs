//! PyTorch's own files (`torch.save`, the zip format torch has written by default since 1.6): a state dict in,
//! a state dict out.
//!
//! The archive holds `<name>/data.pkl` (the pickled dict, read by the restricted VM of [`super::pickle`]),
//! `<name>/data/<key>` (one record per storage, raw little-endian elements), `<name>/byteorder` and
//! `<name>/version`. A file is told apart from safetensors by its first bytes, whatever its extension; the
//! legacy format (torch < 1.6), a TorchScript archive and a whole pickled module are refused with a sentence
//! saying what to save instead.

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};

use safetensors::Dtype;

use super::pickle::{self, elem_size, TensorRef, Value};

/// The magic number `torch.save` writes first in the legacy (pre-1.6) format: a pickled long.
const LEGACY_MAGIC: [u8; 14] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
];

/// What a model file is, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A zip archive: PyTorch's format (or something else zipped, told apart when opened).
    Zip,
    /// safetensors, or anything that is not one of the others (read as safetensors for its error).
    Safetensors,
}

/// Tells a zip archive from safetensors; refuses the legacy format and bare pickles with what to do instead.
pub(crate) fn sniff(bytes: &[u8]) -> Result<Kind, String> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return Ok(Kind::Zip);
    }
    if bytes.starts_with(&LEGACY_MAGIC) {
        return Err(
            "a PyTorch file in the legacy format (torch < 1.6, or _use_new_zipfile_serialization=False), which \
             neurosplit does not read: load it in PyTorch and save it again with a current torch, \
             torch.save(model.state_dict(), path)"
            .into());
    }
    let safetensors_like = bytes.len() > 8 && bytes[8] == b'{';
    if !safetensors_like && bytes.len() >= 2 && bytes[0] == 0x80 && bytes[1] <= 5 {
        return Err(
            "a bare Python pickle, not a PyTorch zip file or safetensors; neurosplit never unpickles a bare \
             pickle: save the weights with torch.save(model.state_dict(), path)"
                .into(),
        );
    }
    Ok(Kind::Safetensors)
}

/// One tensor of a state dict, decoded to contiguous little-endian bytes.
pub(crate) struct RawTensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// A stored (uncompressed) record of the archive, its length checked against the file before reading.
fn record(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut f = zip
        .by_name(name)
        .map_err(|e| format!("record {name} is unreadable ({e})"))?;
    if f.compression() != zip::CompressionMethod::Stored {
        return Err(format!(
            "record {name} is compressed ({}); torch.save stores records uncompressed",
            f.compression()
        ));
    }
    let size = f.size();
    if size > limit as u64 {
        return Err(format!(
            "record {name} claims {size} bytes, more than the file's {limit}"
        ));
    }
    let mut out = Vec::with_capacity(size as usize);
    (&mut f)
        .take(size)
        .read_to_end(&mut out)
        .map_err(|e| format!("record {name} is unreadable ({e})"))?;
    if out.len() as u64 != size {
        return Err(format!("record {name} is truncated"));
    }
    Ok(out)
}

/// Reads the state dict of a `torch.save` zip archive, in the dict's order.
pub(crate) fn read(bytes: &[u8]) -> Result<Vec<RawTensor>, String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("not a readable zip archive ({e}); it may be truncated or corrupt"))?;
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let Some(pkl) = names
        .iter()
        .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
    else {
        if names.iter().any(|n| n.ends_with(".npy")) {
            return Err("a zip of .npy arrays (an .npz data file?), not a model file".into());
        }
        return Err(
            "a zip archive without <name>/data.pkl: not a file torch.save writes; save the model with \
             torch.save(model.state_dict(), path)"
                .into(),
        );
    };
    let prefix = pkl[..pkl.len() - "data.pkl".len()].to_string();
    let has = |n: &str| names.iter().any(|x| x == &format!("{prefix}{n}"));
    if has("constants.pkl")
        || names
            .iter()
            .any(|n| n.starts_with(&format!("{prefix}code/")))
    {
        return Err(
            "a TorchScript archive (torch.jit.save), which holds code as well as weights; neurosplit reads state \
             dicts: save with torch.save(model.state_dict(), path) (a scripted module has a state_dict() too)"
                .into(),
        );
    }
    if has("byteorder") {
        let order = record(&mut zip, &format!("{prefix}byteorder"), bytes.len())?;
        if order != b"little" {
            return Err(format!(
                "the file's byte order is {:?}; neurosplit reads little-endian files (save it on a little-endian \
                 machine)",
                String::from_utf8_lossy(&order[..order.len().min(16)])
            ));
        }
    }
    let data_prefix = format!("{prefix}data/");
    let mut sizes: HashMap<String, usize> = HashMap::new();
    for i in 0..zip.len() {
        let f = zip
            .by_index(i)
            .map_err(|e| format!("record {i} is unreadable ({e})"))?;
        if let Some(key) = f.name().strip_prefix(&data_prefix) {
            sizes.insert(
                key.to_string(),
                usize::try_from(f.size()).unwrap_or(usize::MAX),
            );
        }
    }
    let pickle_bytes = record(&mut zip, pkl, bytes.len())?;
    let top = pickle::unpickle(&pickle_bytes, &|k| sizes.get(k).copied())?;
    let Value::Dict(dict) = top else {
        return Err(format!(
            "the file holds {}, not a state dict (a dict of tensors): save with torch.save(model.state_dict(), path)",
            top.kind()
        ));
    };
    let mut entries: Vec<(String, TensorRef)> = Vec::with_capacity(dict.items.len() / 2);
    let mut it = dict.items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        let Value::Str(k) = k else {
            return Err(format!(
                "the dict has a key that is {}, not a tensor name",
                k.kind()
            ));
        };
        match v {
            Value::Tensor(t) => entries.push((k, t)),
            Value::Dict(_) => {
                return Err(format!(
                    "entry '{k}' is a dict, not a tensor: the file looks like a training checkpoint (a dict of \
                     dicts); save the model's state dict alone with torch.save(model.state_dict(), path)"
                ))
            }
            other => {
                return Err(format!(
                    "entry '{k}' is {}, not a tensor: the file looks like a checkpoint, not a state dict; save \
                     the model's state dict alone with torch.save(model.state_dict(), path)",
                    other.kind()
                ))
            }
        }
    }
    if entries.is_empty() {
        return Err("the state dict holds no tensors".into());
    }
    // Every tensor has at most as many elements as its storage, and storages are records of the file, but
    // several tensors may view one storage: check the total before decoding.
    let total: Option<u128> = entries.iter().try_fold(0u128, |a, (_, t)| {
        a.checked_add(t.numel() as u128 * elem_size(t.storage.dtype) as u128)
    });
    crate::limits::check_memory("the state dict's tensors", total).map_err(|e| e.to_string())?;
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = Vec::with_capacity(entries.len());
    for (name, t) in entries {
        let key = &t.storage.key;
        if !storages.contains_key(key) {
            let data = record(&mut zip, &format!("{data_prefix}{key}"), bytes.len())?;
            storages.insert(key.clone(), data);
        }
        let storage = &storages[key];
        out.push(RawTensor {
            data: gather(storage, &t),
            name,
            dtype: t.storage.dtype,
            shape: t.shape,
        });
    }
    Ok(out)
}

/// The elements of view `t` of `storage`, contiguous (the view was checked to lie inside the storage).
fn gather(storage: &[u8], t: &TensorRef) -> Vec<u8> {
    let size = elem_size(t.storage.dtype);
    let n = t.numel();
    let mut out = Vec::with_capacity(n * size);
    if n == 0 {
        return out;
    }
    let mut index = vec![0usize; t.shape.len()];
    let mut at = t.offset;
    for _ in 0..n {
        out.extend_from_slice(&storage[at * size..(at + 1) * size]);
        // Odometer over the indices, last dimension fastest.
        for d in (0..index.len()).rev() {
            index[d] += 1;
            at += t.strides[d];
            if index[d] < t.shape[d] {
                break;
            }
            at -= t.strides[d] * t.shape[d];
            index[d] = 0;
        }
    }
    out
}

/// A `torch.save` zip archive of an `OrderedDict` of `F32` tensors (name, shape, little-endian bytes), laid out
/// as torch writes it: stored records, data 64-byte aligned, `byteorder` and `version`.
pub(crate) fn write(tensors: &[(String, Vec<usize>, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let entries: Vec<(String, Dtype, Vec<usize>)> = tensors
        .iter()
        .map(|(n, s, _)| (n.clone(), Dtype::F32, s.clone()))
        .collect();
    let pkl = pickle::state_dict_pickle(&entries);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default())
        .with_alignment(64);
    let mut put = |name: String, data: &[u8]| -> Result<(), String> {
        zip.start_file(name, opts)
            .and_then(|()| zip.write_all(data).map_err(Into::into))
            .map_err(|e| format!("writing the archive: {e}"))
    };
    put("archive/data.pkl".into(), &pkl)?;
    put("archive/.format_version".into(), b"1")?;
    put("archive/.storage_alignment".into(), b"64")?;
    put("archive/byteorder".into(), b"little")?;
    for (i, (_, _, data)) in tensors.iter().enumerate() {
        put(format!("archive/data/{i}"), data)?;
    }
    put("archive/version".into(), b"3\n")?;
    let cursor = zip
        .finish()
        .map_err(|e| format!("writing the archive: {e}"))?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_views_are_gathered() {
        // A 3 x 2 view, transposed (strides 1, 3) at offset 1 of a 7-element storage of 0..7.
        let storage: Vec<u8> = (0..7u8).flat_map(|v| f32::from(v).to_le_bytes()).collect();
        let t = TensorRef {
            storage: pickle::StorageRef {
                key: "0".into(),
                dtype: Dtype::F32,
                numel: 7,
            },
            offset: 1,
            shape: vec![3, 2],
            strides: vec![1, 3],
        };
        let got: Vec<f32> = gather(&storage, &t)
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(got, [1., 4., 2., 5., 3., 6.]);
    }

    #[test]
    fn written_archives_read_back() {
        let w: Vec<u8> = [1f32, 2., 3., 4., 5., 6.]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let b: Vec<u8> = [0.5f32, -0.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let bytes = write(&[
            ("fc1.weight".into(), vec![2, 3], w.clone()),
            ("fc1.bias".into(), vec![2], b.clone()),
        ])
        .unwrap();
        assert_eq!(sniff(&bytes), Ok(Kind::Zip));
        let back = read(&bytes).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(
            (back[0].name.as_str(), back[0].shape.as_slice()),
            ("fc1.weight", &[2, 3][..])
        );
        assert_eq!(back[0].data, w);
        assert_eq!(back[1].data, b);
        assert!(read(&bytes[..bytes.len() - 10]).is_err());
    }
}
