-- Customers' tags belong to the customer store (crm_connectors) from here on. The table
-- was created with the operator workspace (0050_workspace), which now only shows them
-- and edits them through the store's API. Migrations run forward only, so the table
-- stays as it is; what changes is its owner, and that a merge moves a customer's tags to
-- the customer it was merged into, as it moves identities and the timeline.

COMMENT ON TABLE customer_tags IS
    'crm_connectors: agents'' labels for a customer; a merge moves them to the survivor';

-- Tags left on customers merged before the store moved them go to the survivors.
INSERT INTO customer_tags (customer_id, tag)
SELECT c.merged_into, t.tag
FROM customer_tags t JOIN customers c ON c.id = t.customer_id
WHERE c.merged_into IS NOT NULL
ON CONFLICT DO NOTHING;

DELETE FROM customer_tags t USING customers c
WHERE c.id = t.customer_id AND c.merged_into IS NOT NULL;
