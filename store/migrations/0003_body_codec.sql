-- How the bodies of an exchange row are stored: '' as they are (rows
-- written before this migration), 'zstd' each non-empty body a zstd frame.
-- Compression keeps a mismatch row of two 4 KiB JSON bodies within a page
-- or two instead of a chain of overflow pages: what lets the writer sustain
-- its target rate (BENCHMARKS.md) and a storage budget hold six times more.
ALTER TABLE exchanges ADD COLUMN body_codec TEXT NOT NULL DEFAULT '';
