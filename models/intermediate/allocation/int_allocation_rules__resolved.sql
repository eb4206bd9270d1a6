{#-
    The allocation rules in one shape: one row per rule × target, with the rule's specificity
    (how many match dimensions it names; null = wildcard) computed here, never hand-set, and
    each target's cost centre (the rule's own, else its team's).
-#}

with

allocation_rules as (

    select * from {{ ref('allocation_rules') }}

),

teams as (

    select * from {{ ref('teams') }}

),

final as (

    select
        -- ids
        {{ surrogate_key(['allocation_rules.rule_id', 'allocation_rules.team',
                          'allocation_rules.application']) }} as allocation_target_key,
        allocation_rules.rule_id,

        -- match dimensions (null = wildcard)
        {%- for rule_column, _ in allocation_match_dimensions() %}
        allocation_rules.{{ rule_column }},
        {%- endfor %}
        (
            {%- for rule_column, _ in allocation_match_dimensions() %}
            case when allocation_rules.{{ rule_column }} is null then 0 else 1 end
            {{- ' +' if not loop.last }}
            {%- endfor %}
        ) as specificity,
        allocation_rules.effective_from,
        allocation_rules.effective_to,

        -- target
        allocation_rules.split_method,
        allocation_rules.team,
        coalesce(allocation_rules.cost_centre, teams.cost_centre) as cost_centre,
        allocation_rules.application,
        allocation_rules.split_percent,
        count(*) over (partition by allocation_rules.rule_id) as target_count,
        allocation_rules.description

    from allocation_rules
    left join teams
        on allocation_rules.team = teams.team

)

select * from final
