{#-
    Every billed cost row placed on teams by the most specific effective allocation rule:
    one row per cost row × target of its rule (one `unallocated` row when no rule, or a tie,
    places it). The shares of a cost row sum exactly to its billed cost: every share but the
    last is truncated to the money type's 1e-9 unit and the last takes the remainder.
-#}

with

costs as (

    select * from {{ ref('int_cost__unioned') }}

),

rule_targets as (

    select * from {{ ref('int_allocation_rules__resolved') }}

),

rules as (

    select distinct
        rule_id,
        {%- for rule_column, _ in allocation_match_dimensions() %}
        {{ rule_column }},
        {%- endfor %}
        specificity,
        effective_from,
        effective_to,
        split_method
    from rule_targets

),

-- every effective rule whose named dimensions all equal the cost row's (null = wildcard)
candidates as (

    select
        costs.cost_row_key,
        rules.rule_id,
        rules.specificity,
        rules.split_method
    from costs
    inner join rules
        on
        {%- for rule_column, fact_column in allocation_match_dimensions() %}
        {{ allocation_dimension_matches(rule_column, fact_column) }}
        and
        {%- endfor %}
        (rules.effective_from is null or costs.charge_date >= rules.effective_from)
        and (rules.effective_to is null or costs.charge_date < rules.effective_to)

),

most_specific as (

    select
        cost_row_key,
        rule_id,
        specificity,
        split_method
    from (
        select
            candidates.*,
            max(specificity) over (partition by cost_row_key) as top_specificity
        from candidates
    ) as ranked
    where specificity = top_specificity

),

-- one winner per cost row; two or more at the top specificity are a tie (an error: the
-- row stays unallocated and the test on tied_rule_ids names the rules)
winners as (

    select
        cost_row_key,
        count(*) as winner_count,
        min(rule_id) as rule_id,
        min(specificity) as specificity,
        min(split_method) as split_method,
        {{ ordered_string_agg('rule_id') }} as tied_rule_ids
    from most_specific
    group by cost_row_key

),

matched as (

    select
        costs.*,
        winners.rule_id,
        winners.specificity,
        winners.split_method
    from costs
    inner join winners
        on costs.cost_row_key = winners.cost_row_key
    where winners.winner_count = 1

),

-- proportional driver: each team's tokens on rows placed on it by a direct rule, per
-- provider and day
team_usage as (

    select
        matched.provider,
        matched.charge_date,
        rule_targets.team,
        sum(matched.consumed_quantity) as driver_quantity
    from matched
    inner join rule_targets
        on matched.rule_id = rule_targets.rule_id
    where matched.split_method = 'direct'
        and matched.consumed_unit = 'Tokens'
    group by
        matched.provider,
        matched.charge_date,
        rule_targets.team

),

weighted as (

    select
        matched.cost_row_key,
        matched.rule_id,
        matched.specificity,
        matched.split_method,
        rule_targets.team,
        rule_targets.cost_centre,
        rule_targets.application,
        cast(
            case matched.split_method
                when 'fixed' then rule_targets.split_percent * 10000
                when 'proportional' then coalesce(team_usage.driver_quantity, 0)
                else 1
            end
            as decimal(38, 0)
        ) as raw_weight
    from matched
    inner join rule_targets
        on matched.rule_id = rule_targets.rule_id
    left join team_usage
        on matched.split_method = 'proportional'
        and matched.provider = team_usage.provider
        and matched.charge_date = team_usage.charge_date
        and rule_targets.team = team_usage.team

),

-- a proportional rule with no driver that day (no target used any tokens) splits evenly
weights as (

    select
        weighted.*,
        case
            when sum(raw_weight) over (partition by cost_row_key) = 0 then cast(1 as decimal(38, 0))
            else raw_weight
        end as split_weight
    from weighted

),

ranked_targets as (

    select
        weights.*,
        sum(split_weight) over (partition by cost_row_key) as total_weight,
        count(*) over (partition by cost_row_key) as target_count,
        row_number() over (
            partition by cost_row_key
            order by split_weight, team, cost_centre, application
        ) as share_rank
    from weights

),

truncated_shares as (

    select
        ranked_targets.*,
        {{ money_to_nanos('costs.billed_cost') }} as billed_nanos,
        case
            when ranked_targets.share_rank < ranked_targets.target_count
                then {{ truncating_div(
                    money_to_nanos('costs.billed_cost') ~ ' * ranked_targets.split_weight',
                    'ranked_targets.total_weight') }}
        end as truncated_nanos
    from ranked_targets
    inner join costs
        on ranked_targets.cost_row_key = costs.cost_row_key

),

allocated as (

    select
        cost_row_key,
        rule_id,
        specificity,
        split_method,
        team,
        cost_centre,
        application,
        split_weight,
        cast(null as {{ dbt.type_string() }}) as tied_rule_ids,
        case
            when share_rank = target_count
                then billed_nanos - coalesce(
                    sum(truncated_nanos) over (partition by cost_row_key), 0
                )
            else truncated_nanos
        end as allocated_nanos
    from truncated_shares

),

unallocated as (

    select
        costs.cost_row_key,
        cast(null as {{ dbt.type_string() }}) as rule_id,
        cast(null as integer) as specificity,
        'unallocated' as split_method,
        'unallocated' as team,
        cast(null as {{ dbt.type_string() }}) as cost_centre,
        cast(null as {{ dbt.type_string() }}) as application,
        cast(null as decimal(38, 0)) as split_weight,
        case when winners.winner_count > 1 then winners.tied_rule_ids end as tied_rule_ids,
        {{ money_to_nanos('costs.billed_cost') }} as allocated_nanos
    from costs
    left join winners
        on costs.cost_row_key = winners.cost_row_key
    where winners.cost_row_key is null
        or winners.winner_count > 1

),

placed as (

    select * from allocated
    union all
    select * from unallocated

),

final as (

    select
        -- ids
        {{ surrogate_key(['placed.cost_row_key', 'placed.rule_id', 'placed.team',
                          'placed.cost_centre', 'placed.application']) }}
            as cost_allocation_key,
        placed.cost_row_key,
        costs.billing_account_id,
        costs.sub_account_id,
        costs.api_key_id,

        -- dimensions
        placed.team,
        placed.cost_centre,
        placed.application,
        costs.provider,
        costs.model,
        costs.token_type,
        costs.service_tier,
        costs.provider_name,
        costs.service_name,
        costs.service_category,

        -- quantities
        placed.split_weight,

        -- money
        costs.billed_cost,
        {{ nanos_to_money('placed.allocated_nanos') }} as allocated_cost,
        costs.billing_currency,

        -- allocation audit
        placed.rule_id as allocation_rule_id,
        placed.split_method as allocation_method,
        cast(placed.specificity as integer) as allocation_specificity,
        placed.tied_rule_ids,

        -- dates
        costs.charge_date

    from placed
    inner join costs
        on placed.cost_row_key = costs.cost_row_key

)

select * from final
