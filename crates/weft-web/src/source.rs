//! A model file in the page's storage, read through a JavaScript function.

use js_sys::{Function, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use weft_local::gguf::ByteSource;

/// The bytes of a file the page holds (in the worker: an OPFS sync access
/// handle), read with `read(offset, length) -> Uint8Array`.
pub struct JsByteSource {
    name: String,
    len: u64,
    read: Function,
}

impl JsByteSource {
    /// A file of `len` bytes called `name`, read with `read`.
    pub fn new(name: String, len: u64, read: Function) -> Self {
        Self { name, len, read }
    }
}

/// The message of a JavaScript exception.
pub fn js_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

impl ByteSource for JsByteSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let bytes = self
            .read
            .call2(
                &JsValue::NULL,
                &JsValue::from_f64(offset as f64),
                &JsValue::from_f64(len as f64),
            )
            .map_err(|e| std::io::Error::other(js_message(&e)))?;
        let bytes = bytes.dyn_into::<Uint8Array>().map_err(|_| {
            std::io::Error::other("the page's read function did not return a Uint8Array")
        })?;
        if bytes.length() as usize != len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "asked for {len} bytes at byte {offset}, got {}",
                    bytes.length()
                ),
            ));
        }
        Ok(bytes.to_vec())
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}
