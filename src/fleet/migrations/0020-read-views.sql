-- What the reports read (src/query over src/fleet/remote.ts): the signals
-- with their names and cgroups spelled out, under the column names of the
-- local export query (src/export/columns.ts SELECT_ROWS), and the host.
CREATE VIEW sigaudit.signal_rows AS
  SELECT s.source_id, h.name AS host, s.id, s.ts_ns, s.fanout, src.name AS source,
    s.sender_pid, s.sender_tid, sc.name AS sender_comm, s.sender_uid, s.sender_auid, s.sender_ppid,
    s.sender_cgroup AS sender_cgroup_id, scp.name AS sender_cgroup_path, scu.name AS sender_unit,
    s.target_pid, s.target_tid, s.delivered_pid, s.delivered_tid, dc.name AS delivered_comm,
    s.delivered_cgroup AS delivered_cgroup_id, dcp.name AS delivered_cgroup_path, dcu.name AS delivered_unit,
    s.signal, s.ret, r.name AS result, s.si_code, o.name AS origin,
    s.sender_ns_pid, s.target_ns_pid, s.delivered_ns_pid
  FROM sigaudit.signals s
  JOIN sigaudit.sources so ON so.id = s.source_id
  JOIN sigaudit.hosts h ON h.id = so.host_id
  JOIN sigaudit.names src ON src.id = s.source
  LEFT JOIN sigaudit.names sc ON sc.id = s.sender_comm
  LEFT JOIN sigaudit.cgroups scg ON scg.source_id = s.source_id AND scg.id = s.sender_cgroup
  LEFT JOIN sigaudit.names scp ON scp.id = scg.path
  LEFT JOIN sigaudit.names scu ON scu.id = scg.unit
  LEFT JOIN sigaudit.names dc ON dc.id = s.delivered_comm
  LEFT JOIN sigaudit.cgroups dcg ON dcg.source_id = s.source_id AND dcg.id = s.delivered_cgroup
  LEFT JOIN sigaudit.names dcp ON dcp.id = dcg.path
  LEFT JOIN sigaudit.names dcu ON dcu.id = dcg.unit
  LEFT JOIN sigaudit.names r ON r.id = s.result
  LEFT JOIN sigaudit.names o ON o.id = s.origin;

-- Where the recorder found an earlier database at its path (local
-- migrations/0090-earlier-databases.sql): answers before found_ns say so.
CREATE TABLE sigaudit.earlier_databases (
  source_id integer NOT NULL REFERENCES sigaudit.sources (id),
  id bigint NOT NULL,
  run_id bigint,
  found_ns bigint NOT NULL,
  what text NOT NULL,
  moved_to text,
  detail text NOT NULL,
  PRIMARY KEY (source_id, id)
);
