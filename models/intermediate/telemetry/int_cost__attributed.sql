{#-
    Billed cost split below the bill by app telemetry: one row per bill line (cost row of
    int_cost__unioned) × team × application × feature × prompt template (+ version) × how it
    was attributed.

    Per bill line (provider, day, project/workspace, API key when the bill knows it, model,
    token type, service tier when the bill knows it):
    1. The calls reported for it explain `coverage` = min(1, reported tokens / billed
       tokens) of its cost; that part is split over the calls' groups by split weight (tokens
       × tier × context weights, so a line mixing batch and non-batch, or long and standard
       context, is split by what each call cost).
    2. A group tagged with a team the line's allocation rule charges (one of its targets) is
       charged to that team (`telemetry`); on a line no rule places, a tagged team of
       seeds/teams is taken (`telemetry`). A group tagged with a team the rule does not name
       goes to team `unallocated` with its feature (`team_conflict`): nobody is charged for
       another team's calls, and the conflict stays visible.
    3. The rest — untagged calls, calls never reported, usage no app reports — is
       `unattributed` (feature and prompt template) and follows the allocation rule: split
       over the rule's targets in proportion to their allocated cost, rule id kept.
    Every share but the last is truncated to 1e-9 and the remainder takes what is left, so
    each line's rows sum exactly to its billed cost.
-#}

with

costs as (

    select * from {{ ref('int_cost__unioned') }}

),

allocated as (

    select * from {{ ref('int_cost__allocated') }}

),

usage as (

    select * from {{ ref('int_telemetry__usage_daily') }}

),

teams as (

    select * from {{ ref('teams') }}

),

line_usage as (

    select
        costs.cost_row_key,
        usage.model,
        usage.team,
        usage.application,
        usage.feature,
        usage.prompt_template_id,
        usage.prompt_template_version,
        sum(usage.token_quantity) as token_quantity,
        sum(usage.split_weight) as split_weight
    from costs
    inner join usage
        on costs.provider = usage.provider
        and costs.charge_date = usage.event_date
        and costs.token_type = usage.token_type
        and (
            costs.sub_account_id = usage.sub_account_id
            or (costs.sub_account_id is null and usage.sub_account_id is null)
        )
        and (costs.api_key_id is null or costs.api_key_id = usage.api_key_id)
        and (costs.model is null or costs.model = usage.model)
        and (costs.service_tier is null or costs.service_tier = usage.service_tier)
    group by
        costs.cost_row_key,
        usage.model,
        usage.team,
        usage.application,
        usage.feature,
        usage.prompt_template_id,
        usage.prompt_template_version

),

line_totals as (

    select
        line_usage.cost_row_key,
        sum(line_usage.token_quantity) as telemetry_quantity,
        sum(line_usage.split_weight) as total_weight
    from line_usage
    group by line_usage.cost_row_key

),

line_rule as (

    select
        cost_row_key,
        max(case when allocation_method = 'unallocated' then 1 else 0 end) as is_unallocated
    from allocated
    group by cost_row_key

),

rule_teams as (

    select
        cost_row_key,
        team,
        min(cost_centre) as cost_centre,
        min(allocation_rule_id) as allocation_rule_id,
        min(allocation_method) as allocation_method
    from allocated
    where allocation_method <> 'unallocated'
    group by cost_row_key, team

),

coverage as (

    select
        costs.cost_row_key,
        {{ money_to_nanos('costs.billed_cost') }} as billed_nanos,
        line_totals.total_weight,
        case
            when coalesce(costs.consumed_quantity, 0) <= 0 then 1.0
            when line_totals.telemetry_quantity >= costs.consumed_quantity then 1.0
            else cast(line_totals.telemetry_quantity as double precision)
                / cast(costs.consumed_quantity as double precision)
        end as explained_share
    from costs
    inner join line_totals
        on costs.cost_row_key = line_totals.cost_row_key

),

-- tagged groups: their share of the explained part, truncated toward zero
tagged_shares as (

    select
        line_usage.cost_row_key,
        line_usage.model as call_model,
        case
            when rule_teams.team is not null then line_usage.team
            when line_rule.is_unallocated = 1 and teams.team is not null then line_usage.team
            else 'unallocated'
        end as team,
        case
            when rule_teams.team is not null then rule_teams.cost_centre
            when line_rule.is_unallocated = 1 then teams.cost_centre
        end as cost_centre,
        line_usage.application,
        coalesce(line_usage.feature, 'unattributed') as feature,
        coalesce(line_usage.prompt_template_id, 'unattributed') as prompt_template_id,
        line_usage.prompt_template_version,
        rule_teams.allocation_rule_id,
        rule_teams.allocation_method,
        case
            when rule_teams.team is not null then 'telemetry'
            when line_rule.is_unallocated = 1 and teams.team is not null then 'telemetry'
            else 'team_conflict'
        end as attribution_method,
        line_usage.token_quantity,
        cast(
            floor(
                abs(cast(coverage.billed_nanos as double precision))
                * coverage.explained_share
                * line_usage.split_weight
                / nullif(coverage.total_weight, 0)
            ) as bigint
        ) * cast(sign(coverage.billed_nanos) as bigint) as attributed_nanos
    from line_usage
    inner join coverage
        on line_usage.cost_row_key = coverage.cost_row_key
    inner join line_rule
        on line_usage.cost_row_key = line_rule.cost_row_key
    left join rule_teams
        on line_usage.cost_row_key = rule_teams.cost_row_key
        and line_usage.team = rule_teams.team
    left join teams
        on line_usage.team = teams.team
    where line_usage.team is not null

),

tagged as (

    select
        cost_row_key,
        call_model,
        team,
        cost_centre,
        application,
        feature,
        prompt_template_id,
        prompt_template_version,
        allocation_rule_id,
        allocation_method,
        attribution_method,
        sum(token_quantity) as telemetry_quantity,
        sum(coalesce(attributed_nanos, 0)) as attributed_nanos
    from tagged_shares
    group by
        cost_row_key,
        call_model,
        team,
        cost_centre,
        application,
        feature,
        prompt_template_id,
        prompt_template_version,
        allocation_rule_id,
        allocation_method,
        attribution_method

),

tagged_totals as (

    select
        cost_row_key,
        sum(attributed_nanos) as attributed_nanos
    from tagged
    group by cost_row_key

),

-- what telemetry does not explain, over the allocation rule's targets
remainder_targets as (

    select
        allocated.cost_row_key,
        allocated.team,
        allocated.cost_centre,
        allocated.application,
        allocated.allocation_rule_id,
        allocated.allocation_method,
        {{ money_to_nanos('allocated.billed_cost') }} as billed_nanos,
        {{ money_to_nanos('allocated.allocated_cost') }} as allocated_nanos,
        {{ money_to_nanos('allocated.billed_cost') }}
            - coalesce(tagged_totals.attributed_nanos, 0) as remainder_nanos,
        tagged_totals.cost_row_key is not null as has_telemetry,
        count(*) over (partition by allocated.cost_row_key) as target_count,
        row_number() over (
            partition by allocated.cost_row_key
            order by
                abs(allocated.allocated_cost),
                allocated.team,
                allocated.cost_centre,
                allocated.application,
                allocated.allocation_rule_id
        ) as target_rank
    from allocated
    left join tagged_totals
        on allocated.cost_row_key = tagged_totals.cost_row_key

),

remainder_truncated as (

    select
        remainder_targets.*,
        case
            when target_rank < target_count and billed_nanos <> 0
                then {{ truncating_div('remainder_nanos * allocated_nanos', 'billed_nanos') }}
            when target_rank < target_count then 0
        end as truncated_nanos
    from remainder_targets

),

remainder as (

    select
        cost_row_key,
        cast(null as {{ dbt.type_string() }}) as call_model,
        team,
        cost_centre,
        application,
        'unattributed' as feature,
        'unattributed' as prompt_template_id,
        cast(null as {{ dbt.type_string() }}) as prompt_template_version,
        allocation_rule_id,
        allocation_method,
        'unattributed' as attribution_method,
        cast(null as bigint) as telemetry_quantity,
        case
            when target_rank = target_count
                then remainder_nanos
                - coalesce(sum(truncated_nanos) over (partition by cost_row_key), 0)
            else truncated_nanos
        end as attributed_nanos,
        remainder_nanos,
        has_telemetry
    from remainder_truncated

),

placed as (

    select
        cost_row_key,
        call_model,
        team,
        cost_centre,
        application,
        feature,
        prompt_template_id,
        prompt_template_version,
        allocation_rule_id,
        allocation_method,
        attribution_method,
        telemetry_quantity,
        cast(attributed_nanos as decimal(38, 0)) as attributed_nanos
    from tagged
    union all
    select
        cost_row_key,
        call_model,
        team,
        cost_centre,
        application,
        feature,
        prompt_template_id,
        prompt_template_version,
        allocation_rule_id,
        allocation_method,
        attribution_method,
        telemetry_quantity,
        cast(attributed_nanos as decimal(38, 0)) as attributed_nanos
    from remainder
    -- a line telemetry explains entirely has no unattributed rest
    where remainder_nanos <> 0 or not has_telemetry

),

final as (

    select
        -- ids
        {{ surrogate_key([
            'placed.cost_row_key', 'placed.call_model', 'placed.team', 'placed.cost_centre', 'placed.application',
            'placed.feature', 'placed.prompt_template_id', 'placed.prompt_template_version',
            'placed.allocation_rule_id', 'placed.attribution_method',
        ]) }} as cost_attribution_key,
        placed.cost_row_key,
        costs.billing_account_id,
        costs.sub_account_id,
        costs.api_key_id,

        -- dimensions
        costs.provider,
        -- a line without a model (tool charges) takes the model of the calls that made it
        coalesce(costs.model, placed.call_model) as model,
        costs.token_type,
        costs.service_tier,
        placed.team,
        placed.cost_centre,
        placed.application,
        placed.feature,
        placed.prompt_template_id,
        placed.prompt_template_version,

        -- quantities
        cast(placed.telemetry_quantity as bigint) as telemetry_quantity,

        -- money
        costs.billed_cost,
        {{ nanos_to_money('placed.attributed_nanos') }} as attributed_cost,
        costs.billing_currency,

        -- attribution audit
        placed.allocation_rule_id,
        placed.allocation_method,
        placed.attribution_method,

        -- dates
        costs.charge_date

    from placed
    inner join costs
        on placed.cost_row_key = costs.cost_row_key

)

select * from final
