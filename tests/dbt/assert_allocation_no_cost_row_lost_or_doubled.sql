{#-
    Every fact row (marts.fct_cost_and_usage) is allocated exactly once: its shares in
    marts.fct_cost_allocated sum exactly to its billed cost, come from one rule (or are one
    `unallocated` row), and no allocated row points at a fact row that does not exist.
    Returns the offending fact rows with what went wrong.
-#}

with

facts as (

    select
        x_cost_row_key,
        billed_cost
    from {{ ref('fct_cost_and_usage') }}

),

shares as (

    select
        x_cost_row_key,
        count(*) as share_rows,
        count(distinct coalesce(x_allocation_rule_id, '(unallocated)')) as rules,
        sum(case when team = 'unallocated' then 1 else 0 end) as unallocated_rows,
        sum(allocated_cost) as allocated_cost
    from {{ ref('fct_cost_allocated') }}
    group by x_cost_row_key

)

select
    coalesce(facts.x_cost_row_key, shares.x_cost_row_key) as x_cost_row_key,
    facts.billed_cost,
    shares.allocated_cost,
    shares.share_rows,
    case
        when shares.x_cost_row_key is null then 'fact row never allocated'
        when facts.x_cost_row_key is null then 'allocated row without a fact row'
        when shares.rules <> 1 then 'placed by more than one rule'
        when shares.unallocated_rows > 0 and shares.share_rows > 1
            then 'unallocated and allocated at once'
        else 'shares do not sum to the billed cost'
    end as problem
from facts
full outer join shares
    on facts.x_cost_row_key = shares.x_cost_row_key
where facts.x_cost_row_key is null
    or shares.x_cost_row_key is null
    or shares.rules <> 1
    or (shares.unallocated_rows > 0 and shares.share_rows > 1)
    or facts.billed_cost <> shares.allocated_cost
