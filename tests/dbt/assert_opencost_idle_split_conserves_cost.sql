{{ config(severity='error') }}
{#-
    Sharing idle GPU/cluster cost moves money between rows, never creates or loses it: per
    cluster, UTC day, resource and idle flag, Σ cost after the split (int_opencost__idle_shared)
    equals Σ before (int_opencost__resource_costs), exactly (1e-9), whatever the method; and
    the number of unpriced rows is unchanged. Returns the groups that differ.
-#}

with

before_split as (

    select
        cluster_id,
        bucket_date,
        source_token_type,
        is_idle,
        sum(billed_cost) as billed_cost,
        sum(case when billed_cost is null then 1 else 0 end) as unpriced_rows
    from {{ ref('int_opencost__resource_costs') }}
    group by cluster_id, bucket_date, source_token_type, is_idle

),

after_split as (

    select
        cluster_id,
        bucket_date,
        source_token_type,
        is_idle,
        sum(billed_cost) as billed_cost,
        sum(case when billed_cost is null then 1 else 0 end) as unpriced_rows
    from {{ ref('int_opencost__idle_shared') }}
    group by cluster_id, bucket_date, source_token_type, is_idle

),

final as (

    select
        coalesce(before_split.cluster_id, after_split.cluster_id) as cluster_id,
        coalesce(before_split.bucket_date, after_split.bucket_date) as bucket_date,
        coalesce(before_split.source_token_type, after_split.source_token_type)
            as source_token_type,
        coalesce(before_split.is_idle, after_split.is_idle) as is_idle,
        before_split.billed_cost as billed_cost_before,
        after_split.billed_cost as billed_cost_after,
        before_split.unpriced_rows as unpriced_rows_before,
        after_split.unpriced_rows as unpriced_rows_after
    from before_split
    full outer join after_split
        on before_split.cluster_id is not distinct from after_split.cluster_id
        and before_split.bucket_date = after_split.bucket_date
        and before_split.source_token_type = after_split.source_token_type
        and before_split.is_idle = after_split.is_idle

)

select * from final
where billed_cost_before is distinct from billed_cost_after
    or unpriced_rows_before is distinct from unpriced_rows_after
