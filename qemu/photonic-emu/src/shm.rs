//! Shared memory the model reads and writes while another party (QEMU's vCPUs) does too: BAR2 and
//! guest RAM. Every access is bounds-checked and volatile (the other side may change the bytes at
//! any time), so a bad offset from the guest is an error, never a crash of the model.

use memmap2::{MmapOptions, MmapRaw};
use std::{fs::File, io, os::fd::AsRawFd};

/// A shared mapping of a file or memfd.
pub struct SharedRegion {
    map: MmapRaw,
}

/// An access outside the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBounds;

impl SharedRegion {
    /// Maps `len` bytes of `file` shared, read-write.
    pub fn map(file: &impl AsRawFd, len: usize) -> io::Result<SharedRegion> {
        let map = MmapOptions::new().len(len).map_raw(file.as_raw_fd())?;
        Ok(SharedRegion { map })
    }

    /// Maps the whole of `file`.
    pub fn map_file(file: &File) -> io::Result<SharedRegion> {
        let len =
            usize::try_from(file.metadata()?.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
        Self::map(file, len)
    }

    /// Anonymous memory (for tests).
    pub fn anonymous(len: usize) -> io::Result<SharedRegion> {
        let map = MmapOptions::new().len(len).map_anon()?.into();
        Ok(SharedRegion { map })
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// A pointer to `len` bytes at `offset`, or `OutOfBounds`.
    fn span(&self, offset: u64, len: usize) -> Result<*mut u8, OutOfBounds> {
        let offset = usize::try_from(offset).map_err(|_| OutOfBounds)?;
        let end = offset.checked_add(len).ok_or(OutOfBounds)?;
        if end > self.map.len() {
            return Err(OutOfBounds);
        }
        // SAFETY: `offset + len <= self.map.len()`, so the result stays inside the mapping.
        Ok(unsafe { self.map.as_mut_ptr().add(offset) })
    }

    /// Reads a plain-data `T` at `offset` (unaligned, volatile).
    pub fn read<T: Copy>(&self, offset: u64) -> Result<T, OutOfBounds> {
        let p = self.span(offset, size_of::<T>())?;
        // SAFETY: `p` covers `size_of::<T>()` mapped bytes; every `T` used here is plain data
        // (integers only), so any bytes are a valid value; volatile because the guest writes too.
        Ok(unsafe { std::ptr::read_volatile(p.cast::<T>()) })
    }

    /// Writes a plain-data `T` at `offset` (volatile).
    pub fn write<T: Copy>(&self, offset: u64, value: T) -> Result<(), OutOfBounds> {
        let p = self.span(offset, size_of::<T>())?;
        // SAFETY: `p` covers `size_of::<T>()` mapped, writable bytes.
        unsafe { std::ptr::write_volatile(p.cast::<T>(), value) };
        Ok(())
    }

    /// Reads `count` little-endian f32 at `offset`.
    pub fn read_f32s(&self, offset: u64, count: usize) -> Result<Vec<f32>, OutOfBounds> {
        let bytes = count.checked_mul(4).ok_or(OutOfBounds)?;
        let p = self.span(offset, bytes)?;
        let mut out = vec![0f32; count];
        // SAFETY: `p` covers `bytes` mapped bytes and `out` has room for them; the regions cannot
        // overlap (one is a fresh Vec).
        unsafe { std::ptr::copy_nonoverlapping(p, out.as_mut_ptr().cast::<u8>(), bytes) };
        Ok(out)
    }

    /// Writes `values` as little-endian f32 at `offset`.
    pub fn write_f32s(&self, offset: u64, values: &[f32]) -> Result<(), OutOfBounds> {
        let bytes = std::mem::size_of_val(values);
        let p = self.span(offset, bytes)?;
        // SAFETY: `p` covers `bytes` mapped, writable bytes; `values` is a separate allocation.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr().cast::<u8>(), p, bytes) };
        Ok(())
    }

    /// Checks that `len` bytes at `offset` lie inside the region.
    pub fn check(&self, offset: u64, len: u64) -> Result<(), OutOfBounds> {
        let len = usize::try_from(len).map_err(|_| OutOfBounds)?;
        self.span(offset, len).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_inside_work_and_outside_are_refused() {
        let r = SharedRegion::anonymous(4096).unwrap();
        r.write(8, 0xdead_beefu32).unwrap();
        assert_eq!(r.read::<u32>(8), Ok(0xdead_beef));
        r.write_f32s(4092, &[1.5]).unwrap();
        assert_eq!(r.read_f32s(4092, 1).unwrap(), vec![1.5]);
        assert_eq!(r.read::<u64>(4092), Err(OutOfBounds));
        assert_eq!(r.write_f32s(4094, &[1.0]), Err(OutOfBounds));
        assert_eq!(r.read_f32s(u64::MAX - 2, 1), Err(OutOfBounds));
        assert_eq!(r.check(0, 4097), Err(OutOfBounds));
        assert!(r.read_f32s(0, usize::MAX).is_err());
    }
}
