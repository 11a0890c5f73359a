-- Face embeddings of more than one model (issue 14): FaceRes is 1024-D,
-- MobileFace 256-D, and a site changing model keeps both kinds of template
-- while its edges switch over. The vector columns lose their fixed
-- dimension; each row's dimension is its model's, and similarity is only
-- ever computed between rows of one model and one dimension.
--
-- HNSW indexes need a fixed dimension, so there is one partial expression
-- index per dimension in use (pgvector's recommended form for mixed
-- dimensions). The predicate is on the dimension, a constant the query
-- repeats literally, rather than on the model id, so the planner can match
-- the index whatever the query's parameters are. A dimension without an
-- index is still searched, exactly, by a scan of that model's templates.
DROP INDEX face_templates_embedding_idx;

ALTER TABLE face_templates ALTER COLUMN embedding TYPE vector;
ALTER TABLE face_negatives ALTER COLUMN embedding TYPE vector;
ALTER TABLE face_observations ALTER COLUMN embedding TYPE vector;

COMMENT ON COLUMN face_templates.embedding IS 'L2-normalised embedding; its dimension is its model''s (vector_dims(embedding)).';
COMMENT ON COLUMN face_negatives.embedding IS 'The rejected observation''s embedding, of model `model`.';
COMMENT ON COLUMN face_observations.embedding IS 'L2-normalised embedding of model `model`, in that model''s dimension.';

-- m 32 / ef_construction 128: recall@1 0.99 at ef_search 100 over 100 000
-- random 1024-D templates, against 0.77 with pgvector's defaults (16 / 64);
-- see docs/performance.md.
CREATE INDEX face_templates_embedding_1024_idx ON face_templates
    USING hnsw ((embedding::vector(1024)) vector_cosine_ops) WITH (m = 32, ef_construction = 128)
    WHERE vector_dims(embedding) = 1024;
CREATE INDEX face_templates_embedding_256_idx ON face_templates
    USING hnsw ((embedding::vector(256)) vector_cosine_ops) WITH (m = 32, ef_construction = 128)
    WHERE vector_dims(embedding) = 256;
CREATE INDEX face_templates_model_idx ON face_templates (model, person_id);
