{#-
    Two different rules that name exactly the same match dimensions with the same values and
    overlapping effective windows tie on every cost row they match: an error even before any
    cost arrives. Returns both rule_ids. (Ties between rules of different dimensions at the
    same specificity show on data: assert_allocation_has_no_rule_ties.)
-#}

with

rules as (

    select distinct
        rule_id,
        {%- for rule_column, _ in allocation_match_dimensions() %}
        {{ rule_column }},
        {%- endfor %}
        effective_from,
        effective_to
    from {{ ref('int_allocation_rules__resolved') }}

)

select
    a.rule_id,
    b.rule_id as tied_with_rule_id,
    a.effective_from,
    a.effective_to,
    b.effective_from as tied_effective_from,
    b.effective_to as tied_effective_to
from rules as a
inner join rules as b
    on a.rule_id < b.rule_id
    {%- for rule_column, _ in allocation_match_dimensions() %}
    and a.{{ rule_column }} is not distinct from b.{{ rule_column }}
    {%- endfor %}
    and (a.effective_to is null or b.effective_from is null or b.effective_from < a.effective_to)
    and (b.effective_to is null or a.effective_from is null or a.effective_from < b.effective_to)
