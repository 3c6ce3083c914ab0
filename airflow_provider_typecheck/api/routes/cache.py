"""The active-schema cache: statistics and clearing (admin). Task status is never touched."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from airflow_provider_typecheck.api.deps import ServicesDep, require_admin
from airflow_provider_typecheck.api.models import CacheClearOut, CacheStatsOut
from airflow_provider_typecheck.api.responses import ADMIN, errors

router = APIRouter(prefix="/cache", tags=["cache"], dependencies=[Depends(require_admin)], responses=errors(*ADMIN))

SAMPLE_KEYS = 20


@router.get("")
def cache_stats(services: ServicesDep) -> CacheStatsOut:
    stats = services.cache.stats()
    return CacheStatsOut(**stats.model_dump(), sample_keys=services.cache.sample_keys(SAMPLE_KEYS))


@router.delete("/clear")
def clear_cache(services: ServicesDep) -> CacheClearOut:
    return CacheClearOut(cleared=services.cache.clear())
