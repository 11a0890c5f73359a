-- Face search by binary quantization (issue 15): each template's sign bits
-- (binary_quantize: 1 bit a dimension, 128 bytes for 1024-D instead of
-- 4 KiB) in an HNSW index with Hamming distance find the candidates, and
-- the exact cosine on the full vectors re-ranks them
-- (store::faces::nearest_templates_sql). Measured in
-- benches/faces_search.rs: at 100 000 templates it is faster than the
-- full-precision HNSW of migration 0006 at the same recall, its index is a
-- thirtieth of the size and builds in seconds instead of minutes
-- (docs/performance.md). One partial index per dimension in use, as
-- before. m 32 / ef_construction 128: with pgvector's defaults (16 / 64)
-- the Hamming graph of random templates found the nearest one in 94 % of
-- searches at ef_search 100, with these in all of them (20 000 templates).
DROP INDEX face_templates_embedding_1024_idx;
DROP INDEX face_templates_embedding_256_idx;

CREATE INDEX face_templates_embedding_1024_bq_idx ON face_templates
    USING hnsw ((binary_quantize(embedding::vector(1024))::bit(1024)) bit_hamming_ops)
    WITH (m = 32, ef_construction = 128)
    WHERE vector_dims(embedding) = 1024;
CREATE INDEX face_templates_embedding_256_bq_idx ON face_templates
    USING hnsw ((binary_quantize(embedding::vector(256))::bit(256)) bit_hamming_ops)
    WITH (m = 32, ef_construction = 128)
    WHERE vector_dims(embedding) = 256;
