{#-
    Every bill line's attributed rows sum exactly to its billed cost (blocking): no line lost,
    doubled, or split with a rounding leak. Returns the lines that do not.
-#}

with

lines as (

    select
        cost_row_key,
        billed_cost
    from {{ ref('int_cost__unioned') }}

),

attributed as (

    select
        cost_row_key,
        sum(attributed_cost) as attributed_cost
    from {{ ref('int_cost__attributed') }}
    group by cost_row_key

)

select
    coalesce(lines.cost_row_key, attributed.cost_row_key) as cost_row_key,
    lines.billed_cost,
    attributed.attributed_cost
from lines
full outer join attributed
    on lines.cost_row_key = attributed.cost_row_key
where lines.billed_cost is null
    or attributed.attributed_cost is null
    or lines.billed_cost <> attributed.attributed_cost
