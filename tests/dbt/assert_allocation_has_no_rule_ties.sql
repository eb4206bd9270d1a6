{#-
    No cost row is matched by two or more rules at the same (highest) specificity: such a
    tie is an error in seeds/allocation_rules.csv (make one rule more specific, or end one's
    effective window). The tied row is kept as `unallocated` meanwhile, so conservation holds.
    Returns each tied cost row with the rule_ids that tie on it.
-#}

select
    cost_row_key,
    provider,
    charge_date,
    billing_account_id,
    sub_account_id,
    api_key_id,
    model,
    token_type,
    tied_rule_ids
from {{ ref('int_cost__allocated') }}
where tied_rule_ids is not null
