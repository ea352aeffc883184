-- cogjobs schema, version 1.
-- Forward-only: once shipped, this file is never edited (the migrator checks its SHA-256).
-- All times are Unix time in milliseconds (UTC), INTEGER.
-- Users read the v_* views (docs/sql.md); the tables may change shape in later migrations.

-- One row per distinct image content. `path` is the last path the content was seen at.
CREATE TABLE images (
    id          INTEGER PRIMARY KEY,
    sha256      TEXT    NOT NULL UNIQUE CHECK (length(sha256) = 64),
    path        TEXT    NOT NULL,
    width       INTEGER CHECK (width IS NULL OR width > 0),
    height      INTEGER CHECK (height IS NULL OR height > 0),
    format      TEXT,
    byte_size   INTEGER CHECK (byte_size IS NULL OR byte_size >= 0),
    created_at  INTEGER NOT NULL
) STRICT;

-- One row per requested run of the model on an image.
CREATE TABLE jobs (
    id                  INTEGER PRIMARY KEY,
    image_id            INTEGER NOT NULL REFERENCES images (id),
    task                TEXT    NOT NULL CHECK (task <> ''),
    prompt              TEXT    NOT NULL DEFAULT '',
    params_json         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(params_json)),
    model               TEXT    NOT NULL CHECK (model <> ''),
    priority            INTEGER NOT NULL DEFAULT 0,
    state               TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN
                            ('queued', 'running', 'retryable', 'succeeded', 'failed', 'cancelled', 'quarantined')),
    attempt             INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts        INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    run_after           INTEGER NOT NULL,
    lease_owner         TEXT,
    lease_expires_at    INTEGER,
    claim_token         TEXT,
    crash_count         INTEGER NOT NULL DEFAULT 0 CHECK (crash_count >= 0),
    cancel_requested    INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    progress_phase      TEXT,
    tokens_generated    INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    started_at          INTEGER,
    finished_at         INTEGER,
    last_error_code     TEXT,
    last_error_message  TEXT,
    -- sha256 of (image sha256, task, prompt, model); NULL for a job enqueued with --force.
    dedup_key           TEXT,
    -- A running job always has its lease; a job that is not running has none.
    CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL
                                  AND claim_token IS NOT NULL))
) STRICT;

-- Deduplication: one job per (image, task, prompt, model) in any state, unless forced.
CREATE UNIQUE INDEX jobs_dedup ON jobs (dedup_key) WHERE dedup_key IS NOT NULL;
-- The claim path: available jobs in claim order.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_after, id) WHERE state IN ('queued', 'retryable');
CREATE INDEX jobs_state ON jobs (state, finished_at);
CREATE INDEX jobs_image ON jobs (image_id, task);

-- Every failed attempt of a job (and every rescue after a crash), oldest first.
CREATE TABLE job_errors (
    id       INTEGER PRIMARY KEY,
    job_id   INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt  INTEGER NOT NULL,
    code     TEXT    NOT NULL,
    message  TEXT    NOT NULL,
    at       INTEGER NOT NULL
) STRICT;
CREATE INDEX job_errors_job ON job_errors (job_id, id);

-- The output of a succeeded job. ON DELETE RESTRICT: a job that has a result can never be deleted,
-- so pruning keeps every result together with its job row.
CREATE TABLE results (
    id                INTEGER PRIMARY KEY,
    job_id            INTEGER NOT NULL UNIQUE REFERENCES jobs (id) ON DELETE RESTRICT,
    text              TEXT    NOT NULL,
    raw_output        TEXT    NOT NULL,
    prompt_tokens     INTEGER NOT NULL CHECK (prompt_tokens >= 0),
    generated_tokens  INTEGER NOT NULL CHECK (generated_tokens >= 0),
    preprocess_ms     REAL    NOT NULL DEFAULT 0,
    prefill_ms        REAL    NOT NULL DEFAULT 0,
    decode_ms         REAL    NOT NULL DEFAULT 0,
    total_ms          REAL    NOT NULL DEFAULT 0,
    model             TEXT    NOT NULL,
    created_at        INTEGER NOT NULL
) STRICT;

-- Grounding boxes of a result: x0..y1 in CogVLM's 0-999 thousandths of width/height and in pixels.
CREATE TABLE boxes (
    id         INTEGER PRIMARY KEY,
    result_id  INTEGER NOT NULL REFERENCES results (id) ON DELETE CASCADE,
    box_index  INTEGER NOT NULL CHECK (box_index >= 0),
    phrase     TEXT    NOT NULL DEFAULT '',
    x0         INTEGER NOT NULL CHECK (x0 BETWEEN 0 AND 999),
    y0         INTEGER NOT NULL CHECK (y0 BETWEEN 0 AND 999),
    x1         INTEGER NOT NULL CHECK (x1 BETWEEN 0 AND 999),
    y1         INTEGER NOT NULL CHECK (y1 BETWEEN 0 AND 999),
    px_x0      REAL    NOT NULL,
    px_y0      REAL    NOT NULL,
    px_x1      REAL    NOT NULL,
    px_y1      REAL    NOT NULL,
    UNIQUE (result_id, box_index),
    CHECK (x0 <= x1 AND y0 <= y1)
) STRICT;

-- Whole-queue switches; exactly one row.
CREATE TABLE queue_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    paused     INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    changed_at INTEGER
) STRICT;
INSERT INTO queue_state (id, paused) VALUES (1, 0);

-- Views for users (read-only; documented in docs/sql.md).

-- The newest result for every (image, task).
CREATE VIEW v_latest_results AS
SELECT image_id, image_path, image_sha256, width, height, task, prompt, job_id, result_id,
       text, model, generated_tokens, total_ms, finished_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', finished_at / 1000.0, 'unixepoch') AS finished
FROM (
    SELECT i.id AS image_id, i.path AS image_path, i.sha256 AS image_sha256, i.width, i.height,
           j.task, j.prompt, j.id AS job_id, r.id AS result_id, r.text, r.model,
           r.generated_tokens, r.total_ms, r.created_at AS finished_at,
           row_number() OVER (PARTITION BY j.image_id, j.task ORDER BY r.created_at DESC, r.id DESC) AS rank
    FROM results r
    JOIN jobs j ON j.id = r.job_id
    JOIN images i ON i.id = j.image_id
)
WHERE rank = 1;

-- Every box with its image path and size, in result order.
CREATE VIEW v_boxes AS
SELECT b.id AS box_id, b.result_id, r.job_id, j.image_id, i.path AS image_path, i.width, i.height,
       j.task, b.box_index, b.phrase, b.x0, b.y0, b.x1, b.y1, b.px_x0, b.px_y0, b.px_x1, b.px_y1
FROM boxes b
JOIN results r ON r.id = b.result_id
JOIN jobs j ON j.id = r.job_id
JOIN images i ON i.id = j.image_id;

-- One row: job counts per state, the oldest waiting job and whether the queue is paused.
CREATE VIEW v_queue_stats AS
SELECT
    (SELECT count(*) FROM jobs WHERE state = 'queued')      AS queued,
    (SELECT count(*) FROM jobs WHERE state = 'running')     AS running,
    (SELECT count(*) FROM jobs WHERE state = 'retryable')   AS retryable,
    (SELECT count(*) FROM jobs WHERE state = 'succeeded')   AS succeeded,
    (SELECT count(*) FROM jobs WHERE state = 'failed')      AS failed,
    (SELECT count(*) FROM jobs WHERE state = 'cancelled')   AS cancelled,
    (SELECT count(*) FROM jobs WHERE state = 'quarantined') AS quarantined,
    (SELECT count(*) FROM jobs)                             AS total,
    (SELECT id FROM jobs WHERE state IN ('queued', 'retryable') ORDER BY created_at, id LIMIT 1)
                                                            AS oldest_waiting_job_id,
    (SELECT min(created_at) FROM jobs WHERE state IN ('queued', 'retryable'))
                                                            AS oldest_waiting_created_at,
    (SELECT paused FROM queue_state WHERE id = 1)           AS paused;
