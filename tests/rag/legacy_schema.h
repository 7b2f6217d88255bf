// The store's schema as versions 1 and 2 wrote it (one shared FTS index kept
// by triggers), for migration tests. Copied from store.cpp at version 2;
// never change it: it stands for files that exist.
#pragma once

namespace chunkserve::rag {

inline constexpr const char* kSchemaV1Sql = R"sql(
CREATE TABLE collections(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at_s INTEGER NOT NULL
);
CREATE TABLE documents(
  id INTEGER PRIMARY KEY,
  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  format TEXT NOT NULL,
  chunker TEXT NOT NULL,
  n_chunks INTEGER NOT NULL,
  n_invalid_bytes INTEGER NOT NULL DEFAULT 0,
  metadata TEXT NOT NULL DEFAULT '{}',
  ingested_at_s INTEGER NOT NULL,
  UNIQUE(collection_id, path)
);
CREATE TABLE chunks(
  id INTEGER PRIMARY KEY,
  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,
  text_begin INTEGER NOT NULL,
  text_end INTEGER NOT NULL,
  source_begin INTEGER NOT NULL,
  source_end INTEGER NOT NULL,
  n_tokens INTEGER NOT NULL,
  heading_path TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  text TEXT NOT NULL,
  UNIQUE(document_id, ordinal)
);
CREATE VIRTUAL TABLE chunks_fts USING fts5(
  text, content='chunks', content_rowid='id',
  tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
)sql";

inline constexpr const char* kSchemaV2ExtraSql = R"sql(
CREATE TABLE collection_embedders(
  collection_id INTEGER PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
  embedder TEXT NOT NULL,
  dim INTEGER NOT NULL,
  common_component BLOB,
  updated_at_s INTEGER NOT NULL
);
CREATE TABLE chunk_embeddings(
  chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
  vector BLOB NOT NULL
);
)sql";

// Two collections: "old" with an ingested file and an upload, "other" with one file.
inline constexpr const char* kLegacyRowsSql = R"sql(
INSERT INTO collections(id, name, created_at_s) VALUES (1, 'old', 0), (2, 'other', 0);
INSERT INTO documents(id, collection_id, path, content_hash, size_bytes, mtime_ns, format, chunker, n_chunks,
                      ingested_at_s) VALUES
  (1, 1, '/docs/canal.txt', 'h1', 10, 0, 'text', 'c', 2, 0),
  (2, 1, 'notes.txt', 'h2', 10, 0, 'text', 'c', 1, 0),
  (3, 2, '/docs/rail.txt', 'h3', 10, 0, 'text', 'c', 1, 0);
INSERT INTO chunks(document_id, ordinal, text_begin, text_end, source_begin, source_end, n_tokens, heading_path,
                   content_hash, text) VALUES
  (1, 0, 0, 5, 0, 5, 5, '', 'x', 'The Erie canal opened in 1825.'),
  (1, 1, 5, 9, 5, 9, 5, '', 'y', 'Freight costs on the canal fell.'),
  (2, 0, 0, 5, 0, 5, 5, '', 'z', 'Uploaded notes about the canal lock keepers.'),
  (3, 0, 0, 5, 0, 5, 5, '', 'w', 'The railroad reached the canal town.');
)sql";

}  // namespace chunkserve::rag
