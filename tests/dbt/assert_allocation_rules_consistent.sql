{#-
    The target rows of one rule (same rule_id in seeds/allocation_rules.csv) agree on every
    match dimension, effective date and split method, and a `direct` rule has exactly one
    target. Returns each offending rule_id with the problem.
-#}

with

per_rule as (

    select
        rule_id,
        count(*) as targets,
        count(distinct split_method) as split_methods,
        min(split_method) as split_method,
        count(distinct
            {%- for rule_column, _ in allocation_match_dimensions() %}
            coalesce(cast({{ rule_column }} as {{ dbt.type_string() }}), '~') || '|' ||
            {%- endfor %}
            coalesce(cast(effective_from as {{ dbt.type_string() }}), '~') || '|'
            || coalesce(cast(effective_to as {{ dbt.type_string() }}), '~')
        ) as match_shapes
    from {{ ref('allocation_rules') }}
    group by rule_id

)

select
    rule_id,
    targets,
    case
        when split_methods > 1 then 'targets disagree on split_method'
        when match_shapes > 1 then 'targets disagree on match dimensions or effective dates'
        else 'a direct rule has more than one target'
    end as problem
from per_rule
where split_methods > 1
    or match_shapes > 1
    or (split_method = 'direct' and targets <> 1)
