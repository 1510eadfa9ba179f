-- 0021_model_notify: tell the running prediction services that a model was
-- trained, so they load it when it is committed rather than in the handler
-- of the next event (an injury update right after a training paid ~20 ms for
-- the load; docs/performance.md, pass 5).
--
-- statline-prediction LISTENs on channel statline_model (sl_pg_listen(),
-- repeated after a reconnect) and looks for a newer model in its tick when
-- a notification arrived. The handler still checks the newest model of
-- prediction.models before every run: the notification only moves the
-- load earlier, it is never needed for correctness. A statement-level
-- trigger covers every writer (statline-train, an operator's INSERT or
-- DELETE); NOTIFY is sent at COMMIT, never for a rolled-back statement.
CREATE FUNCTION prediction.models_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
        PERFORM pg_notify('statline_model', TG_OP);
        RETURN NULL;
END
$$;

CREATE TRIGGER models_notify AFTER INSERT OR UPDATE OR DELETE ON prediction.models
        FOR EACH STATEMENT EXECUTE FUNCTION prediction.models_notify();
