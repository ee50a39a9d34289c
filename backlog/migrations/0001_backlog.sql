-- backlog: procedures, agencies, holidays, dossiers with their history,
-- incoming and outgoing documents, and the maintained KPI aggregates.
-- Times are timestamptz (stored UTC); days and months are Vietnam dates.

CREATE TABLE procedures (
    id                    serial PRIMARY KEY,
    code                  text NOT NULL UNIQUE,         -- national code, e.g. 1.000894
    name                  text NOT NULL,
    field_code            text NOT NULL DEFAULT '',
    online_level          text NOT NULL CHECK (online_level IN ('none','partial','full')),
    has_fee               boolean NOT NULL,
    requires_paper_result boolean NOT NULL,
    deadline_value        integer NOT NULL CHECK (deadline_value >= 0),
    deadline_unit         text NOT NULL CHECK (deadline_unit IN ('working_day','day','hour','month')),
    version               integer NOT NULL DEFAULT 1,
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agencies (
    code       text PRIMARY KEY,                        -- QCVN 102 identifier or a local code
    name       text NOT NULL,
    unit_code  text NOT NULL,                           -- the commune (or province) it belongs to
    kind       text NOT NULL DEFAULT 'other'
               CHECK (kind IN ('ubnd_xa','ttpvhcc_xa','ubnd_tinh','so_nganh','other')),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- kind 'holiday' removes a weekday from working days; kind 'workday' makes a
-- weekend day a working day (the Saturdays worked in exchange for a bridge day).
CREATE TABLE holidays (
    day        date PRIMARY KEY,
    name       text NOT NULL,
    kind       text NOT NULL DEFAULT 'holiday' CHECK (kind IN ('holiday','workday')),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per dossier (hồ sơ TTHC). Overdue is never stored: it is derived
-- from deadline and the time of the question. state is the status folded
-- for indexes: 0 not received (1, 3), 1 open (2, 4, 5, 6), 2 closed (7–10).
CREATE TABLE dossiers (
    id                bigserial PRIMARY KEY,
    code              text NOT NULL UNIQUE,             -- MaHoSo
    procedure_id      integer NOT NULL REFERENCES procedures(id),
    procedure_version integer NOT NULL,
    unit_code         text NOT NULL,                    -- the current commune (MaDVHC, or its successor)
    source_unit_code  text NOT NULL DEFAULT '',         -- MaDVHC as sent, when it is a pre-2025 code
    province_code     text NOT NULL,
    status            smallint NOT NULL CHECK (status BETWEEN 1 AND 10),
    state             smallint NOT NULL CHECK (state IN (0,1,2)),
    channel           smallint NOT NULL CHECK (channel IN (1,2,3)),
    received_at       timestamptz,                      -- NgayTiepNhan
    due_at            timestamptz,                      -- NgayHenTra (or computed)
    due_computed      boolean NOT NULL DEFAULT false,
    processed_at      timestamptz,                      -- NgayKetThucXuLy
    returned_at       timestamptz,                      -- NgayTra
    closed_at         timestamptz,                      -- end of processing (statuses 7–10)
    end_at            timestamptz,                      -- end used for on-time rules (see docs/kpis.md)
    deadline          timestamptz,                      -- due_at + credited pause time
    paused_since      timestamptz,                      -- start of the pause in progress (5, 6)
    pause_credit_s    bigint NOT NULL DEFAULT 0,
    supplement_count  smallint NOT NULL DEFAULT 0,
    pauses            jsonb NOT NULL DEFAULT '[]',
    fee_total         bigint NOT NULL DEFAULT 0,
    paid_online       smallint NOT NULL DEFAULT 0,      -- DuocThanhToanTrucTuyen: 0, 1 DVCQG, 2 local gateway
    digitized         boolean NOT NULL DEFAULT false,
    e_result          boolean NOT NULL DEFAULT false,
    reused            boolean NOT NULL DEFAULT false,
    personal_store    boolean NOT NULL DEFAULT false,
    vneid             boolean NOT NULL DEFAULT false,
    negative          boolean NOT NULL DEFAULT false,
    synced_at         timestamptz,
    procedure_name    text NOT NULL DEFAULT '',
    field_code        text NOT NULL DEFAULT '',
    receipt_no        text NOT NULL DEFAULT '',
    applicant         text NOT NULL DEFAULT '',
    applicant_type    smallint NOT NULL DEFAULT 0,
    subject           text NOT NULL DEFAULT '',
    handling_unit     text NOT NULL DEFAULT '',
    note              text NOT NULL DEFAULT '',
    fingerprint       bytea NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- Live open counts per commune and province, index-only.
CREATE INDEX dossiers_open ON dossiers (province_code, unit_code, deadline)
    INCLUDE (paused_since, supplement_count) WHERE state = 1;
-- The deadline scheduler's next crossing.
CREATE INDEX dossiers_running_deadline ON dossiers (deadline) WHERE state = 1 AND paused_since IS NULL;
-- Lists and historical questions.
CREATE INDEX dossiers_unit_received ON dossiers (unit_code, received_at DESC);
CREATE INDEX dossiers_province_received ON dossiers (province_code, received_at DESC);
-- Dossiers open at a past moment t (received ≤ t < closed), for periods
-- that ended: only the few that spanned t are read, not everything closed
-- since. (No other province index on closed_at: each index costs the
-- importer time.)
CREATE INDEX dossiers_span ON dossiers USING gist (tstzrange(received_at, closed_at)) WHERE state = 2;

-- Append-only history of a dossier: creation, status changes, field changes.
CREATE TABLE dossier_events (
    id          bigserial PRIMARY KEY,
    dossier_id  bigint NOT NULL REFERENCES dossiers(id),
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL CHECK (kind IN ('created','status','updated')),
    from_status smallint,
    to_status   smallint,
    actor       text NOT NULL,
    source      text NOT NULL,                          -- api, import, demo
    changes     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX dossier_events_dossier ON dossier_events (dossier_id, id);

CREATE FUNCTION backlog_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER dossier_events_append_only BEFORE UPDATE OR DELETE ON dossier_events
    FOR EACH ROW EXECUTE FUNCTION backlog_append_only();

-- Registers (sổ): numbers run from 1 per book and year; last_number is taken
-- under the row lock of the registering transaction, so a rollback returns
-- it and no number is skipped or repeated.
CREATE TABLE doc_books (
    id          serial PRIMARY KEY,
    unit_code   text NOT NULL,
    direction   text NOT NULL CHECK (direction IN ('in','out')),
    name        text NOT NULL,
    year        integer NOT NULL,
    secret      boolean NOT NULL DEFAULT false,
    last_number integer NOT NULL DEFAULT 0,
    UNIQUE (unit_code, direction, name, year)
);

CREATE TABLE incoming_docs (
    id              bigserial PRIMARY KEY,
    unit_code       text NOT NULL,
    province_code   text NOT NULL,
    agency_code     text REFERENCES agencies(code),
    book_id         integer REFERENCES doc_books(id),
    number          integer,                            -- số đến
    received_at     timestamptz NOT NULL,               -- ngày đến
    registered_at   timestamptz,
    reference       text NOT NULL DEFAULT '',           -- số, ký hiệu
    doc_date        date,
    doc_type        text NOT NULL DEFAULT '',
    issuer          text NOT NULL DEFAULT '',
    subject         text NOT NULL DEFAULT '',
    urgency         text NOT NULL CHECK (urgency IN ('thuong','khan','thuong_khan','hoa_toc')),
    secrecy         text NOT NULL CHECK (secrecy IN ('thuong','mat','toi_mat','tuyet_mat')),
    medium          text NOT NULL CHECK (medium IN ('paper','electronic')),
    status          text NOT NULL CHECK (status IN ('cho_vao_so','cho_xu_ly','dang_xu_ly','da_xu_ly','tra_lai','thu_hoi')),
    deadline        timestamptz,                        -- hạn xử lý
    urgent_deadline timestamptz,                        -- end of the working day of receipt (urgent only)
    directive       text NOT NULL DEFAULT '',
    presented_at    timestamptz,
    completed_at    timestamptz,
    ended_at        timestamptz,                        -- left the backlog (done, returned, recalled)
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (book_id, number),
    CHECK ((book_id IS NULL) = (number IS NULL))
);
CREATE INDEX incoming_docs_unit_received ON incoming_docs (unit_code, received_at DESC);
CREATE INDEX incoming_docs_province_received ON incoming_docs (province_code, received_at DESC);
CREATE INDEX incoming_docs_backlog ON incoming_docs (province_code, unit_code, deadline) WHERE ended_at IS NULL;
CREATE INDEX incoming_docs_deadline ON incoming_docs (deadline) WHERE ended_at IS NULL;
CREATE INDEX incoming_docs_urgent ON incoming_docs (urgent_deadline) WHERE ended_at IS NULL AND presented_at IS NULL;

CREATE TABLE doc_assignments (
    id          bigserial PRIMARY KEY,
    doc_id      bigint NOT NULL REFERENCES incoming_docs(id),
    assignee    text NOT NULL,
    role        text NOT NULL CHECK (role IN ('chu_tri','phoi_hop','de_biet')),
    due_at      timestamptz,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    assigned_by text NOT NULL,
    done_at     timestamptz
);
CREATE INDEX doc_assignments_doc ON doc_assignments (doc_id);

CREATE TABLE doc_events (
    id          bigserial PRIMARY KEY,
    doc_id      bigint NOT NULL REFERENCES incoming_docs(id),
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    from_status text,
    to_status   text,
    actor       text NOT NULL,
    changes     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX doc_events_doc ON doc_events (doc_id, id);
CREATE TRIGGER doc_events_append_only BEFORE UPDATE OR DELETE ON doc_events
    FOR EACH ROW EXECUTE FUNCTION backlog_append_only();

CREATE TABLE outgoing_docs (
    id              bigserial PRIMARY KEY,
    unit_code       text NOT NULL,
    province_code   text NOT NULL,
    agency_code     text REFERENCES agencies(code),
    book_id         integer NOT NULL REFERENCES doc_books(id),
    number          integer NOT NULL,
    reference       text NOT NULL,                      -- số, ký hiệu: number/suffix
    issued_at       timestamptz NOT NULL,
    doc_type        text NOT NULL DEFAULT '',
    subject         text NOT NULL DEFAULT '',
    signer          text NOT NULL DEFAULT '',
    recipients      text NOT NULL DEFAULT '',
    urgency         text NOT NULL CHECK (urgency IN ('thuong','khan','thuong_khan','hoa_toc')),
    secrecy         text NOT NULL CHECK (secrecy IN ('thuong','mat','toi_mat','tuyet_mat')),
    medium          text NOT NULL CHECK (medium IN ('paper','electronic')),
    signed_personal boolean NOT NULL DEFAULT false,
    signed_org      boolean NOT NULL DEFAULT false,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (book_id, number)
);
CREATE INDEX outgoing_docs_unit_issued ON outgoing_docs (unit_code, issued_at DESC);

-- Maintained aggregates: every write adds the change's contribution (new
-- minus old) to the day and the month of the events it counts, in the same
-- transaction. See docs/kpis.md for what each counter counts.
CREATE TABLE kpi_daily (
    unit_code       text NOT NULL,
    day             date NOT NULL,
    province_code   text NOT NULL,
    received        bigint NOT NULL DEFAULT 0,
    r_online        bigint NOT NULL DEFAULT 0,
    r_online_raw    bigint NOT NULL DEFAULT 0,
    r_digitized     bigint NOT NULL DEFAULT 0,
    r_synced        bigint NOT NULL DEFAULT 0,
    r_fee           bigint NOT NULL DEFAULT 0,
    r_paid          bigint NOT NULL DEFAULT 0,
    closed          bigint NOT NULL DEFAULT 0,
    closed_on_time  bigint NOT NULL DEFAULT 0,
    finished        bigint NOT NULL DEFAULT 0,
    f_early         bigint NOT NULL DEFAULT 0,
    f_on_time       bigint NOT NULL DEFAULT 0,
    f_late          bigint NOT NULL DEFAULT 0,
    f_seconds       bigint NOT NULL DEFAULT 0,
    f_eres_den      bigint NOT NULL DEFAULT 0,
    f_eres          bigint NOT NULL DEFAULT 0,
    f_satisfied     bigint NOT NULL DEFAULT 0,
    d_in            bigint NOT NULL DEFAULT 0,
    d_in_electronic bigint NOT NULL DEFAULT 0,
    d_urgent_late   bigint NOT NULL DEFAULT 0,
    d_done_dl       bigint NOT NULL DEFAULT 0,
    d_done_on_time  bigint NOT NULL DEFAULT 0,
    d_out           bigint NOT NULL DEFAULT 0,
    d_out_signed    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (unit_code, day)
);
CREATE INDEX kpi_daily_province ON kpi_daily (province_code, day);

CREATE TABLE kpi_monthly (LIKE kpi_daily INCLUDING DEFAULTS);
ALTER TABLE kpi_monthly RENAME COLUMN day TO month;
ALTER TABLE kpi_monthly ADD PRIMARY KEY (unit_code, month);
CREATE INDEX kpi_monthly_province ON kpi_monthly (province_code, month);

-- Dossiers of fee-bearing procedures per commune, procedure and year,
-- for the share of procedures with online payments (a distinct count needs
-- the procedure). n_counts/paid_counts hold 366 little-endian uint32 day
-- counts (day-of-year d at offset 4(d-1)); n_days/paid_days are bitmaps of
-- the days with a non-zero count (bit d-1), so that "had a dossier in the
-- period" is a mask test on a few rows per commune.
CREATE TABLE kpi_fee_year (
    unit_code     text NOT NULL,
    procedure_id  integer NOT NULL,
    year          integer NOT NULL,
    province_code text NOT NULL,
    n_counts      bytea NOT NULL,
    paid_counts   bytea NOT NULL,
    n_days        bytea NOT NULL,
    paid_days     bytea NOT NULL,
    PRIMARY KEY (unit_code, year, procedure_id)
);
CREATE INDEX kpi_fee_year_province ON kpi_fee_year (province_code, year);
