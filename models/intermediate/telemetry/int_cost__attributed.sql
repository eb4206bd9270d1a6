{#-
    Billed cost split below the bill by app telemetry: one row per bill line (cost row of
    int_cost__unioned) × team × application × feature × prompt template (+ version) × how it
    was attributed.

    1. Tagged usage (int_telemetry__usage_matched decides which line it explains, its share
       and its team): `telemetry` rows charge the tagged team, `team_conflict` rows go to team
       `unallocated` with their feature (nobody is charged for another team's calls).
    2. The rest — untagged calls, calls never reported, usage no app reports — is
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

matched as (

    select * from {{ ref('int_telemetry__usage_matched') }}

),

-- tagged usage: its share of the explained part, truncated toward zero
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
        cast(
            floor(
                abs(cast(max(line_billed_nanos) as double precision))
                * max(explained_share)
                * sum(split_weight)
                / nullif(max(line_split_weight), 0)
            ) as bigint
        ) * cast(sign(max(line_billed_nanos)) as bigint) as attributed_nanos
    from matched
    where attribution_method is not null
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
        sum(coalesce(attributed_nanos, 0)) as attributed_nanos
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
