{#-
    A `fixed` allocation rule's split_percent over its targets sums to exactly 100.
    Returns each offending rule_id of seeds/allocation_rules.csv with its sum.
-#}

select
    rule_id,
    count(*) as targets,
    sum(split_percent) as split_percent_total
from {{ ref('allocation_rules') }}
where split_method = 'fixed'
group by rule_id
having sum(split_percent) is null
    or sum(split_percent) <> 100
