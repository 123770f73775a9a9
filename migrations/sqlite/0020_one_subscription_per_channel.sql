-- 0020: one subscription per channel, whichever path made it.
--
-- `botsvc subscribe` stored a Slack or Discord channel without its workspace (''), while
-- /news in the same channel stored it with the workspace: two subscriptions to one topic,
-- every alert posted twice, and chat controls seeing only one. Slack and Discord channel
-- ids name one channel whatever the workspace, so each such pair is merged into the older
-- subscription, which keeps its settings (mode, pause, quiet hours, filters, template,
-- updates) and takes the workspace; what either was told or muted counts for the kept one,
-- and the other's messages become the kept one's. Then every other subscription of such a
-- channel stored without a workspace takes the channel's (botsvc/store/channel_workspace.py
-- does the same at run time for a channel whose first managing command names it).

CREATE TEMP TABLE merged_subscriptions AS
    SELECT min(b.id, n.id) AS keep_id, max(b.id, n.id) AS drop_id, n.workspace AS workspace
    FROM subscriptions b JOIN subscriptions n
        ON n.platform = b.platform AND n.channel = b.channel AND n.topic = b.topic
    WHERE b.workspace = '' AND b.platform IN ('slack', 'discord')
        AND n.id = (SELECT min(x.id) FROM subscriptions x WHERE x.platform = b.platform
                    AND x.channel = b.channel AND x.topic = b.topic AND x.workspace != '');

INSERT INTO deliveries (subscription_id, event_id, member_count, queued_at, summarised, alert_outbox_id)
    SELECT m.keep_id, d.event_id, d.member_count, d.queued_at, d.summarised, d.alert_outbox_id
    FROM deliveries d JOIN merged_subscriptions m ON d.subscription_id = m.drop_id WHERE true
    ON CONFLICT (subscription_id, event_id) DO UPDATE SET
        member_count = max(member_count, excluded.member_count),
        alert_outbox_id = coalesce(alert_outbox_id, excluded.alert_outbox_id);
INSERT OR IGNORE INTO event_mutes (subscription_id, event_id, reason, muted_by, muted_at)
    SELECT m.keep_id, e.event_id, e.reason, e.muted_by, e.muted_at
    FROM event_mutes e JOIN merged_subscriptions m ON e.subscription_id = m.drop_id;
UPDATE outbox SET subscription_id = (SELECT keep_id FROM merged_subscriptions WHERE drop_id = outbox.subscription_id)
    WHERE subscription_id IN (SELECT drop_id FROM merged_subscriptions);
DELETE FROM deliveries WHERE subscription_id IN (SELECT drop_id FROM merged_subscriptions);
DELETE FROM event_mutes WHERE subscription_id IN (SELECT drop_id FROM merged_subscriptions);
DELETE FROM subscription_filters WHERE subscription_id IN (SELECT drop_id FROM merged_subscriptions);
DELETE FROM subscriptions WHERE id IN (SELECT drop_id FROM merged_subscriptions);
UPDATE subscriptions SET workspace = (SELECT workspace FROM merged_subscriptions WHERE keep_id = subscriptions.id)
    WHERE id IN (SELECT keep_id FROM merged_subscriptions);

-- Unpaired: another topic of a channel whose workspace is now known.
UPDATE subscriptions SET workspace = (
        SELECT min(n.workspace) FROM subscriptions n
        WHERE n.platform = subscriptions.platform AND n.channel = subscriptions.channel AND n.workspace != '')
    WHERE workspace = '' AND platform IN ('slack', 'discord')
        AND EXISTS (SELECT 1 FROM subscriptions n WHERE n.platform = subscriptions.platform
                    AND n.channel = subscriptions.channel AND n.workspace != '');
UPDATE outbox SET workspace = (
        SELECT min(s.workspace) FROM subscriptions s
        WHERE s.platform = outbox.platform AND s.channel = outbox.channel AND s.workspace != '')
    WHERE workspace = '' AND platform IN ('slack', 'discord')
        AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.platform = outbox.platform
                    AND s.channel = outbox.channel AND s.workspace != '');

DROP TABLE merged_subscriptions;
