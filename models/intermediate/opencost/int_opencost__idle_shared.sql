{#-
    OpenCost resource costs with each cluster's idle capacity shared to namespaces by the
    method `seeds/opencost_idle_split.csv` states (dbt var `opencost_idle_split_method`
    overrides it). Workload rows pass through unchanged. An idle row becomes one row per
    target namespace (`kubernetes_namespace` set, `is_idle` still true), or stays one row
    with no namespace (`unallocated`, unpriced, or nobody to share with). Shares are exact:
    every share but the last is truncated to 1e-9, the last takes the remainder, so Σ shares
    = the idle row's cost.
-#}
{%- set method_override = var('opencost_idle_split_method', none) -%}

with

resource_costs as (

    select * from {{ ref('int_opencost__resource_costs') }}

),

idle_split as (

    select * from {{ ref('opencost_idle_split') }}

),

workload_costs as (

    select * from resource_costs
    where not is_idle

),

idle_costs as (

    select
        resource_costs.*,
        {%- if method_override %}
        cast('{{ method_override }}' as {{ dbt.type_string() }}) as idle_split_method
        {%- else %}
        coalesce(
            cluster_rule.split_method, default_rule.split_method, 'unallocated'
        ) as idle_split_method
        {%- endif %}
    from resource_costs
    left join idle_split as cluster_rule
        on resource_costs.cluster_id = cluster_rule.cluster_id
    left join idle_split as default_rule
        on default_rule.cluster_id is null
    where resource_costs.is_idle

),

-- drivers per cluster × day: each namespace's use of each resource, and who had any cost
namespace_usage as (

    select
        cluster_id,
        bucket_date,
        source_token_type,
        kubernetes_namespace,
        sum(consumed_quantity) as used_quantity
    from workload_costs
    where billed_cost is not null
        and kubernetes_namespace is not null
    group by cluster_id, bucket_date, source_token_type, kubernetes_namespace

),

active_namespaces as (

    select distinct
        cluster_id,
        bucket_date,
        kubernetes_namespace
    from workload_costs
    where billed_cost is not null
        and kubernetes_namespace is not null

),

targets as (

    select
        idle_costs.cost_row_key as idle_row_key,
        active_namespaces.kubernetes_namespace as target_namespace,
        cast(1 as decimal(38, 0)) as split_weight
    from idle_costs
    inner join active_namespaces
        on idle_costs.cluster_id is not distinct from active_namespaces.cluster_id
        and idle_costs.bucket_date = active_namespaces.bucket_date
    where idle_costs.idle_split_method = 'even'
        and idle_costs.billed_cost is not null

    union all

    select
        idle_costs.cost_row_key as idle_row_key,
        namespace_usage.kubernetes_namespace as target_namespace,
        cast({{ money_to_nanos('namespace_usage.used_quantity') }} as decimal(38, 0))
            as split_weight
    from idle_costs
    inner join namespace_usage
        on idle_costs.cluster_id is not distinct from namespace_usage.cluster_id
        and idle_costs.bucket_date = namespace_usage.bucket_date
        and idle_costs.source_token_type = namespace_usage.source_token_type
    where idle_costs.idle_split_method = 'proportional'
        and idle_costs.billed_cost is not null
        and namespace_usage.used_quantity > 0

),

ranked_targets as (

    select
        targets.*,
        sum(split_weight) over (partition by idle_row_key) as total_weight,
        count(*) over (partition by idle_row_key) as target_count,
        row_number() over (
            partition by idle_row_key order by split_weight, target_namespace
        ) as share_rank
    from targets

),

truncated_shares as (

    select
        ranked_targets.*,
        {{ money_to_nanos('idle_costs.billed_cost') }} as idle_nanos,
        case
            when ranked_targets.share_rank < ranked_targets.target_count
                then {{ truncating_div(
                    money_to_nanos('idle_costs.billed_cost') ~ ' * ranked_targets.split_weight',
                    'ranked_targets.total_weight') }}
        end as truncated_nanos
    from ranked_targets
    inner join idle_costs
        on ranked_targets.idle_row_key = idle_costs.cost_row_key

),

shares as (

    select
        idle_row_key,
        target_namespace,
        split_weight,
        total_weight,
        case
            when share_rank = target_count
                then idle_nanos - coalesce(sum(truncated_nanos) over (partition by idle_row_key), 0)
            else truncated_nanos
        end as share_nanos
    from truncated_shares

),

shared_idle as (

    select
        {{ surrogate_key(['idle_costs.cost_row_key', 'shares.target_namespace']) }}
            as cost_row_key,
        idle_costs.allocation_row_key,
        idle_costs.billing_account_id,
        idle_costs.cluster_id,
        idle_costs.allocation_name,
        idle_costs.node_name,
        shares.target_namespace as kubernetes_namespace,
        idle_costs.pod_name,
        idle_costs.controller_name,
        idle_costs.controller_kind,
        idle_costs.provider_resource_id,
        idle_costs.labels,
        idle_costs.source_token_type,
        idle_costs.token_type,
        idle_costs.consumed_unit,
        cast(
            cast(idle_costs.consumed_quantity as float8)
            * cast(shares.split_weight as float8)
            / cast(shares.total_weight as float8)
            as {{ money_type() }}
        ) as consumed_quantity,
        idle_costs.amount_text,
        {{ nanos_to_money('shares.share_nanos') }} as billed_cost,
        idle_costs.is_idle,
        idle_costs.idle_split_method,
        idle_costs.cost_row_key as idle_source_row_key,
        idle_costs.window_start_text,
        idle_costs.window_start_at,
        idle_costs.bucket_date
    from shares
    inner join idle_costs
        on shares.idle_row_key = idle_costs.cost_row_key

),

unshared_idle as (

    select
        idle_costs.cost_row_key,
        idle_costs.allocation_row_key,
        idle_costs.billing_account_id,
        idle_costs.cluster_id,
        idle_costs.allocation_name,
        idle_costs.node_name,
        idle_costs.kubernetes_namespace,
        idle_costs.pod_name,
        idle_costs.controller_name,
        idle_costs.controller_kind,
        idle_costs.provider_resource_id,
        idle_costs.labels,
        idle_costs.source_token_type,
        idle_costs.token_type,
        idle_costs.consumed_unit,
        idle_costs.consumed_quantity,
        idle_costs.amount_text,
        idle_costs.billed_cost,
        idle_costs.is_idle,
        idle_costs.idle_split_method,
        idle_costs.cost_row_key as idle_source_row_key,
        idle_costs.window_start_text,
        idle_costs.window_start_at,
        idle_costs.bucket_date
    from idle_costs
    where not exists (
        select 1 from shares where shares.idle_row_key = idle_costs.cost_row_key
    )

),

final as (

    select
        cost_row_key,
        allocation_row_key,
        billing_account_id,
        cluster_id,
        allocation_name,
        node_name,
        kubernetes_namespace,
        pod_name,
        controller_name,
        controller_kind,
        provider_resource_id,
        labels,
        source_token_type,
        token_type,
        consumed_unit,
        consumed_quantity,
        amount_text,
        billed_cost,
        is_idle,
        cast(null as {{ dbt.type_string() }}) as idle_split_method,
        cast(null as {{ dbt.type_string() }}) as idle_source_row_key,
        window_start_text,
        window_start_at,
        bucket_date
    from workload_costs

    union all

    select * from shared_idle

    union all

    select * from unshared_idle

)

select * from final
